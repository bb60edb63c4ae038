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
