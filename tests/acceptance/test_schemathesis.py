"""The OpenAPI document holds: schemathesis, every check, against a live `hookd serve --dev`.

A fixed seed and a bounded number of examples per operation keep the run
reproducible and about a minute long on two cores. Webhook URLs in generated
bodies are rewritten to a local receiver (schemathesis_hooks.py), so hookd only
ever sends to loopback. schemathesis.toml lists the few operations whose
semantic rules JSON Schema cannot state. A new route that answers something its
document does not say fails this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.receiver import Receiver
from tests.support.server import ADMIN_KEY, HookdProcess

SEED = 19
EXAMPLES = 25  # per operation and phase: ~2,500 cases, about a minute on two cores
HERE = Path(__file__).parent
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


@pytest.mark.timeout(300)
def test_every_check_passes(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'hookd.db'}"
    with Receiver() as receiver, HookdProcess(db, tmp_path) as hookd:
        env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": "tests.acceptance.schemathesis_hooks",
            "HOOKD_FUZZ_RECEIVER": f"{receiver.url}/hook",
            "PYTHONPATH": str(HERE.parent.parent),
        }
        command = [
            str(SCHEMATHESIS),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "--no-color",
            "run",
            f"{hookd.url}/openapi.json",
            "--checks",
            "all",
            "--seed",
            str(SEED),
            "--max-examples",
            str(EXAMPLES),
            "--workers",
            "2",
            "--header",
            f"Authorization: Bearer {ADMIN_KEY}",
            "--request-timeout",
            "20",
        ]
        done = subprocess.run(
            command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=280
        )
    report = done.stdout
    failures = report[report.find("FAILURES") :] if "FAILURES" in report else report[-4000:]
    assert done.returncode == 0, failures[:30000] + done.stderr[-3000:]
    assert "Coverage" in report and "Stateful" in report  # every phase ran
