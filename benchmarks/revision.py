"""Measure hookd's `src/` as committed at a git revision, not the working tree.

Used by `python -m benchmarks --rev REV` and `python -m faults --rev REV`: the
revision's src/ is exported with `git archive` into a scratch folder and the
harness runs again in a child process with BENCH_HOOKD_SRC pointing at it
(benchmarks/stack.py starts hookd from there).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from benchmarks import ROOT

__all__ = ["run_at"]


def run_at(rev: str, module: str, args: list[str], env: Mapping[str, str]) -> int:
    """Run `python -m module args` on src/ as of `rev`, with `env` added; its exit code."""
    sha = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{rev}^{{commit}}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    export = Path(tempfile.mkdtemp(prefix=f"hookd-src-{sha[:8]}-"))
    try:
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", sha, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(export)], input=archive, check=True)
        child = {
            **os.environ,
            **env,
            "BENCH_HOOKD_SRC": str(export / "src"),
            "BENCH_HOOKD_REV": sha,
        }
        return subprocess.run([sys.executable, "-m", module, *args], env=child).returncode
    finally:
        shutil.rmtree(export, ignore_errors=True)
