"""python -m faults [scenario …] [--quick] [--output PATH] [--keep] [--rev REV]

Run the fault scenarios (all by default), print one row each and write the
table into docs/failures.md (between its faults markers). `--quick` shrinks
sizes and outages (about 3 minutes for all) and writes nothing unless
`--output` is given. `--rev` measures hookd's `src/` as committed at REV
(exported with `git archive`) instead of the working tree. Exits 1 when any
row misses a target.
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
from benchmarks.revision import run_at

from faults.report import DOCS, cells, printed, write
from faults.scenarios import FULL, QUICK, SCENARIOS, Context, Sizes
from faults.tally import Row

SCENARIO_LIMIT = 600.0  # seconds: a stuck scenario fails instead of hanging the run


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m faults", description="Fault-inject hookd and count what arrives."
    )
    parser.add_argument("scenarios", nargs="*", help="default: all of " + " ".join(SCENARIOS))
    parser.add_argument("--quick", action="store_true", help="small sizes and short outages")
    parser.add_argument("--output", type=Path, help=f"markdown file (default: {DOCS})")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder (logs)")
    parser.add_argument("--rev", help="measure src/ as committed at this git revision")
    args = parser.parse_args(argv)
    unknown = [s for s in args.scenarios if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(SCENARIOS)}")
    return args


async def run(names: list[str], sizes: Sizes, root: Path) -> list[Row]:
    """Run the named scenarios one after another, printing each row when it is done."""
    rows: list[Row] = []
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        ctx = Context(sizes, root, session)
        for name in names:
            print(f"== {name} ...", flush=True)
            started = time.monotonic()
            try:
                async with asyncio.timeout(SCENARIO_LIMIT):
                    row = await SCENARIOS[name](ctx)
            except Exception as exc:
                traceback.print_exc()
                row = Row(name, error=f"{type(exc).__name__}: {exc}"[:300])
            row.seconds = time.monotonic() - started
            rows.append(row)
            print("   " + " | ".join(cells(row)), flush=True)
            for note in row.notes:
                print(f"     {note}", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    args = parse(given)
    if args.rev:
        return measure_revision(args.rev, given)
    names = args.scenarios or list(SCENARIOS)
    root = Path(tempfile.mkdtemp(prefix="hookd-faults-"))
    print(f"scratch folder {root}", flush=True)
    try:
        rows = uvloop.run(run(names, QUICK if args.quick else FULL, root))
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print()
    print(printed(rows))
    output = args.output or (None if args.quick else DOCS)
    if output is not None:
        command = os.environ.get("FAULTS_COMMAND") or shlex.join(
            ["python", "-m", "faults", *_without(given, "--output", "--keep")]
        )
        write(output, rows, command)
        print(f"\nwritten to {output}")
    return 0 if all(r.passed for r in rows) else 1


def _without(given: list[str], *options: str) -> list[str]:
    """Drop `options` (and the value after one that takes a value) from an argv."""
    out: list[str] = []
    skip = False
    for arg in given:
        if skip:
            skip = False
        elif arg in options:
            skip = arg not in ("--keep", "--quick")
        elif not any(arg.startswith(f"{o}=") for o in options):
            out.append(arg)
    return out


def measure_revision(rev: str, given: list[str]) -> int:
    """Export src/ at `rev` and run the suite on it in a child process."""
    command = shlex.join(["python", "-m", "faults", *_without(given, "--output", "--keep")])
    return run_at(rev, "faults", _without(given, "--rev"), {"FAULTS_COMMAND": command})


if __name__ == "__main__":
    sys.exit(main())
