"""python -m benchmarks [scenario …] [--quick] [--rev REV] [--output PATH] [--profile DIR] [--keep]

Run the scenarios (all by default; by number or name), print the table and
write docs/benchmarks.md. `--quick` runs every scenario at a small size and
writes nothing unless `--output` is given. `--rev` measures hookd's `src/` as
committed at REV (exported with `git archive`) instead of the working tree.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import aiohttp
import uvloop

from benchmarks.context import FULL, QUICK, Bench
from benchmarks.report import Outcome, kept_notes, machine, markdown, table, text_table
from benchmarks.revision import run_at
from benchmarks.scenarios import SCENARIOS, select

DOCS = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmark hookd against same-run baselines."
    )
    parser.add_argument(
        "scenarios", nargs="*", help="numbers or names (default: all): " + " ".join(SCENARIOS)
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--output", type=Path, help=f"markdown report (default: {DOCS})")
    parser.add_argument("--profile", type=Path, help="sample hookd with py-spy into this folder")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    parser.add_argument("--rev", help="measure src/ as committed at this git revision")
    return parser.parse_args(argv)


async def run_all(args: argparse.Namespace, keys: list[str], root: Path) -> dict[str, Outcome]:
    sizes = QUICK if args.quick else FULL
    outcomes: dict[str, Outcome] = {}
    scenario_limit = 300.0 if args.quick else 1800.0
    connector = aiohttp.TCPConnector(limit=32)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        bench = Bench(sizes, root, session, quick=args.quick, profile_dir=args.profile)
        for key in keys:
            module = SCENARIOS[key]
            print(f"== {module.NAME} ...", flush=True)
            before = os.getloadavg()
            started = time.perf_counter()
            try:
                async with asyncio.timeout(scenario_limit):
                    outcome: Outcome = await module.run(bench)
            except Exception as exc:
                traceback.print_exc()
                outcome = Outcome(error=f"{type(exc).__name__}: {exc}"[:500])
            outcome.seconds = time.perf_counter() - started
            outcome.load_before, outcome.load_after = before, os.getloadavg()
            outcomes[module.NAME] = outcome
            for row in outcome.rows:
                print("   " + " | ".join(table({"": Outcome(rows=[row])})[1]), flush=True)
            if outcome.error:
                print(f"   FAILED: {outcome.error}", flush=True)
    return outcomes


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        keys = select(args.scenarios)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    given = sys.argv[1:] if argv is None else argv
    if args.rev:
        return measure_revision(args.rev, given)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        ["python", "-m", "benchmarks", *reproducible(given)]
    )
    root = Path(tempfile.mkdtemp(prefix="hookd-bench-"))
    print(f"scratch folder {root}; load average {os.getloadavg()}", flush=True)
    try:
        outcomes = uvloop.run(run_all(args, keys, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(text_table(table(outcomes)))
    output = args.output or (None if args.quick else DOCS)
    if output is not None:
        descriptions = {SCENARIOS[k].NAME: (SCENARIOS[k].__doc__ or "").strip() for k in keys}
        descriptions = {
            k: v.split("\n", 1)[1].strip() if "\n" in v else "" for k, v in descriptions.items()
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        report = markdown(outcomes, descriptions, machine(), command, kept_notes(output))
        output.write_text(report)
        print(f"\nwritten to {output}")
    return 1 if any(o.error for o in outcomes.values()) else 0


def reproducible(given: list[str]) -> list[str]:
    """Drop the options that change where results go, not what is measured."""
    out: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg in ("--output", "--profile"):
            skip = True
        elif not arg.startswith(("--output=", "--profile=", "--keep")):
            out.append(arg)
    return out


def measure_revision(rev: str, given: list[str]) -> int:
    """Export src/ at `rev` and run the harness again on it, in a child process."""
    rest = [a for i, a in enumerate(given) if a != "--rev" and given[i - 1 : i] != ["--rev"]]
    rest = [a for a in rest if not a.startswith("--rev=")]
    command = shlex.join(["python", "-m", "benchmarks", *reproducible(given)])
    return run_at(rev, "benchmarks", rest, {"BENCH_COMMAND": command})


if __name__ == "__main__":
    sys.exit(main())
