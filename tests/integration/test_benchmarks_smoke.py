"""The benchmark harness runs end to end at its quick size (scenarios 1 and 2).

Marked slow: `make test` skips it; run it with `pytest -m slow`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_of_throughput_and_ingest_prints_the_table(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "1", "2", "--quick", "--output", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 delivery throughput (SQLite)" in done.stdout
    assert "2 ingest (SQLite)" in done.stdout
    text = report.read_text()
    assert "| scenario | figure | hookd | baseline (same run) |" in text
    assert "raw aiohttp+uvloop" in text
    assert "bare FastAPI" in text
    assert "cores" in text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_quick_run_of_the_sustained_scenario_reports_every_figure(tmp_path: Path) -> None:
    report = tmp_path / "benchmarks.md"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "sustained", "--quick", "--output", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    # Targets may be missed at the quick size (exit 1 only says so); a crash has no table.
    assert "Traceback" not in done.stdout + done.stderr, done.stdout[-3000:] + done.stderr[-3000:]
    text = report.read_text()
    for backend in ("SQLite", "PostgreSQL"):
        name = f"10 sustained mixed ({backend})"
        for figure in (
            "delivered/s while publishing (max)",
            "delivery lag p99 at 50% of max",
            "delivery lag p50 at 50% of max",
            "publish p99, single event",
            "publish p99, batch of 50",
            "RSS at the end (serve + children)",
        ):
            assert f"| {name} | {figure}" in text, (name, figure)
        assert f"{backend} RSS over time (MiB, serve + children): 0 s" in text
        assert f"{backend} bare client:" in text
