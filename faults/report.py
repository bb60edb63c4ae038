"""The fault table: printed, and written into docs/failures.md between two markers."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from benchmarks import ROOT
from benchmarks.report import machine, markdown_table, text_table

from faults.tally import Row

DOCS = ROOT / "docs" / "failures.md"
BEGIN, END = "<!-- faults:begin -->", "<!-- faults:end -->"
HEAD = [
    "scenario", "accepted", "expected", "unique", "lost", "duplicates", "drain", "stale", "result",
]  # fmt: skip


def cells(row: Row) -> list[str]:
    drain = "—" if row.drain is None else f"{row.drain:.1f} s"
    verdict = "pass" if row.passed else "FAIL: " + "; ".join(row.failures)
    numbers = (row.accepted, row.expected, row.unique, row.lost, row.duplicates)
    return [row.scenario, *(f"{n:,}" for n in numbers), drain, f"{row.stale:,}", verdict]


def table(rows: list[Row]) -> list[list[str]]:
    return [HEAD, *(cells(r) for r in rows)]


def printed(rows: list[Row]) -> str:
    return text_table(table(rows))


def section(rows: list[Row], command: str) -> str:
    """Return what goes between the markers: where, when, how, the table, the notes."""
    info = machine()
    lines = [
        BEGIN,
        f"Measured {info['date']} on {info['cores']} cores ({info['cpu']}, {info['memory']}), "
        f"{info['kernel']}, {info['python']}; {info['hookd']}; {info['servers']}.",
        f"Load: `{_uptime()}`.",
        f"Command: `{command}`.",
        "",
        markdown_table(table(rows)),
        "",
    ]
    for row in rows:
        lines.append(f"- **{row.scenario}** ({row.seconds:.0f} s): " + "; ".join(row.notes))
    lines.append(END)
    return "\n".join(lines)


def write(path: Path, rows: list[Row], command: str) -> None:
    """Replace the text between the markers of `path` (append the section if missing)."""
    text = path.read_text() if path.exists() else ""
    block = section(rows, command)
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        after = rest.split(END, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n## Fault suite\n\n" + block + "\n"
    path.write_text(text)


def _uptime() -> str:
    try:
        done = subprocess.run(
            ["uptime"],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        return done.stdout.strip() or str(os.getloadavg())
    except OSError:
        return f"load average {os.getloadavg()}"
