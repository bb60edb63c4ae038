"""The fault suite runs end to end at a tiny size: sqlite-kill9 with one kill -9.

The same code as `python -m faults sqlite-kill9`: a real `hookd serve` (and its
delivery child) on SQLite, killed with SIGKILL mid-publishing and restarted,
a publisher that retries until 202, and the counting receiver.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from faults.__main__ import run
from faults.scenarios import QUICK

TINY = dataclasses.replace(QUICK, kill9_events=100, kill9_rate=40.0, kills=1, drain_wait=30.0)


@pytest.mark.timeout(90)
async def test_a_kill_9_under_load_loses_nothing_and_prints_its_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (row,) = await run(["sqlite-kill9"], TINY, tmp_path)

    printed = capsys.readouterr().out
    assert not row.error, printed
    assert row.accepted == 100, printed  # every publish got its 202 in the end
    assert row.expected == 200 and row.unique == 200 and row.lost == 0, printed
    assert "   sqlite-kill9 | 100 | 200 | 200 | 0 |" in printed
    assert "1 kills at" in printed
