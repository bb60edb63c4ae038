"""Results: rows of the table, the machine they were measured on, and docs/benchmarks.md.

Every row is one figure of hookd next to a baseline measured in the same run;
the ratio is figure / baseline and the target says which way is good.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import platform
import shutil
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

PACKAGES = (
    "hookd", "aiohttp", "uvloop", "fastapi", "uvicorn", "httptools", "pydantic", "sqlalchemy",
    "aiosqlite", "asyncpg", "orjson", "celery", "redis", "requests",
)  # fmt: skip

KEEP_MARKER = "<!-- Notes below this line are written by hand and kept across runs. -->"


@dataclass(frozen=True)
class Target:
    """What a figure must reach: `on` is "ratio", "value" or "none" (said, not judged)."""

    on: str
    op: str
    limit: float
    text: str

    def met(self, value: float, ratio: float | None) -> bool | None:
        if self.on == "none":
            return None
        subject = ratio if self.on == "ratio" else value
        if subject is None or math.isnan(subject):
            return None
        return subject >= self.limit if self.op == ">=" else subject <= self.limit


@dataclass
class Row:
    scenario: str
    figure: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    target: Target | None = None

    @property
    def ratio(self) -> float | None:
        if self.baseline is None or not self.baseline or not math.isfinite(self.baseline):
            return None
        return self.value / self.baseline

    @property
    def met(self) -> bool | None:
        return self.target.met(self.value, self.ratio) if self.target else None


@dataclass
class Outcome:
    """What one scenario measured: table rows and lines of detail."""

    rows: list[Row] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    load_before: tuple[float, float, float] = (0.0, 0.0, 0.0)
    load_after: tuple[float, float, float] = (0.0, 0.0, 0.0)
    seconds: float = 0.0
    error: str = ""


def number(value: float | None, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "—"
    if math.isinf(value):
        return "not all received"
    if unit in ("/s", "events/s", "deliveries/s"):
        text = f"{value:,.0f}"
    elif unit == "ms":
        text = f"{value:,.1f}"
    elif unit == "s":
        text = f"{value:,.2f}"
    elif unit == "MiB":
        text = f"{value:,.0f}"
    else:
        text = f"{value:,.3g}"
    return f"{text} {unit}".strip()


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "—"}[met]


def table(outcomes: dict[str, Outcome]) -> list[list[str]]:
    """Return the table as rows of cells, header first."""
    cells = [["scenario", "figure", "hookd", "baseline (same run)", "ratio", "target", "met"]]
    for outcome in outcomes.values():
        for row in outcome.rows:
            baseline = number(row.baseline, row.unit)
            if row.baseline_name and row.baseline is not None:
                baseline = f"{baseline} ({row.baseline_name})"
            ratio = f"{row.ratio:.2f}x" if row.ratio is not None else "—"
            ratio = "—" if ratio == "infx" else ratio
            cells.append(
                [
                    row.scenario,
                    row.figure,
                    number(row.value, row.unit),
                    baseline,
                    ratio,
                    row.target.text if row.target else "",
                    _verdict(row.met),
                ]
            )
    return cells


def text_table(cells: list[list[str]]) -> str:
    """Return the table laid out for a terminal."""
    plain = [[c.replace("**", "") for c in row] for row in cells]
    widths = [max(len(row[i]) for row in plain) for i in range(len(plain[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in plain]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def markdown_table(cells: list[list[str]]) -> str:
    lines = ["| " + " | ".join(row) + " |" for row in cells]
    lines.insert(1, "|" + "|".join("---" for _ in cells[0]) + "|")
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """Describe the machine and software the figures come from."""
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": str(os.cpu_count()),
        "cpu": _cpu_model(),
        "memory": _memory(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    versions = []
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions.append(f"{name} {metadata.version(name)}")
    info["packages"] = ", ".join(versions)
    info["hookd"] = _source()
    info["servers"] = ", ".join(v for v in (_redis_version(), _postgres_version()) if v)
    return info


def _source() -> str:
    """Say which hookd code was measured: a commit, or the working tree and its state."""
    from benchmarks import ROOT, SRC

    if rev := os.environ.get("BENCH_HOOKD_REV"):
        return f"hookd src/ at commit {rev[:12]} (exported with git archive)"
    if (ROOT / "src").resolve() != SRC:
        return f"hookd src/ from {SRC}"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        head = _git("rev-parse", "--short=12", "HEAD").strip()
        changed = [line for line in _git("status", "--porcelain", "src").splitlines() if line]
        state = f" plus {len(changed)} uncommitted changes in src/" if changed else ""
        return f"hookd working tree at commit {head}{state}"
    return "hookd working tree"


def _git(*args: str) -> str:
    from benchmarks import ROOT

    return subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=10, check=True
    ).stdout


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory() -> str:
    with contextlib.suppress(OSError, ValueError, IndexError):
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        return f"{int(first.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _redis_version() -> str:
    if not shutil.which("redis-server"):
        return ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
        version = next((p[2:] for p in out.split() if p.startswith("v=")), "")
        return f"redis-server {version}"
    return ""


def _postgres_version() -> str:
    with contextlib.suppress(Exception):
        from tests.support.postgres import find_pg_bin

        out = subprocess.run(
            [str(find_pg_bin() / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        return out.strip().replace("postgres (PostgreSQL)", "PostgreSQL")
    return ""


def _load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.2f}" for v in values)


def markdown(
    outcomes: dict[str, Outcome],
    descriptions: dict[str, str],
    info: dict[str, str],
    command: str,
    kept_notes: str = "",
) -> str:
    """Return docs/benchmarks.md for one run."""
    out = [
        "# Benchmarks",
        "",
        "Written by the benchmark harness (`benchmarks/`); rerun it rather than edit the",
        "figures. Every figure has a baseline measured in the same run on the same",
        "machine, so the ratios hold even when the absolute numbers move with the load.",
        "",
        f"Command: `{command}`  ",
        f"Date: {info['date']}",
        "",
        "## Results",
        "",
        markdown_table(table(outcomes)),
        "",
        "## Machine",
        "",
        f"- {info['cores']} cores ({info['cpu']}), {info['memory']} memory, {info['kernel']}",
        f"- {info['hookd']}",
        f"- {info['python']}",
        f"- {info['packages']}",
    ]
    if info.get("servers"):
        out.append(f"- {info['servers']}")
    out += [
        "- load average (1/5/15 min) before and after each scenario, below: the machine",
        "  has 2 cores and other work may share them.",
        "",
        "## How each figure is measured, and what else the run saw",
        "",
    ]
    for key, outcome in outcomes.items():
        out.append(f"### {key}")
        out.append("")
        if descriptions.get(key):
            out += [descriptions[key], ""]
        if outcome.error:
            out += [f"**Failed:** `{outcome.error}`", ""]
        out += [f"- {line}" for line in outcome.details]
        out.append(
            f"- took {outcome.seconds:.0f} s; load average before {_load(outcome.load_before)},"
            f" after {_load(outcome.load_after)}"
        )
        out.append("")
    out += [KEEP_MARKER, ""]
    if kept_notes.strip():
        out.append(kept_notes.strip())
        out.append("")
    return "\n".join(out)


def kept_notes(path: Path) -> str:
    """Return the hand-written notes at the end of an earlier docs/benchmarks.md."""
    with contextlib.suppress(OSError):
        text = path.read_text()
        if KEEP_MARKER in text:
            return text.split(KEEP_MARKER, 1)[1]
    return ""
