"""hookd's fault suite: `python -m faults [scenario …] [--quick]` (`make faults`).

    __main__    parse the command line, run the scenarios, print and write the table
    scenarios   the five faults of issue 21, their sizes (full and --quick)
    rig         the processes of a scenario and the faults done to them (kill, stop, halt)
    receiver    the counting receiver (its own process): pairs, answered, abandoned
    publisher   the producer: a steady rate, idempotent retries until 202
    tally       accepted / expected / unique / lost / duplicates / drain / stale
    report      the table, printed and in docs/failures.md

hookd is a black box here: processes, its HTTP API and what the receiver saw.
Like the benchmarks (whose process helpers it reuses), it measures the hookd
of the tree it lives in (`benchmarks` puts this tree's `src/` first on the path).
"""

from __future__ import annotations

import benchmarks  # noqa: F401  (puts this tree's src/ on the path, for us and our children)
