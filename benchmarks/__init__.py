"""hookd's benchmark harness: `python -m benchmarks [scenario …] [--quick]`.

    __main__     parse the command line, run the scenarios, print and write the report
    context      sizes (full and --quick), the scratch folder, figures shared between scenarios
    stack        start sinks and hookd processes; procs: any child process
    sink         the receiving HTTP server (its own process)
    api          hookd's API as the harness drives it
    load         bounded load loops and percentiles
    db           reading results from the database; writing the 1M backlog
    report       the table, the machine, docs/benchmarks.md
    baselines/   what hookd is compared with
    scenarios/   one module per scenario of issue 3

The harness measures the hookd of the tree it lives in: it puts this tree's
`src/` first on the path, for itself and for every process it starts
(`BENCH_HOOKD_SRC=/other/src` measures another tree's, e.g. a candidate change).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = Path(os.environ.get("BENCH_HOOKD_SRC") or ROOT / "src").resolve()

if SRC.is_dir() and str(SRC) not in sys.path:
    sys.path.insert(0, str(SRC))
_paths = [str(SRC), str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
os.environ["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(_paths))
