"""The scenarios, in the order of issue 3. Each module has `NAME`, a docstring
saying how its figures are measured, and `async def run(bench) -> Outcome`.

    1 throughput   2 ingest   3 latency   4 fanout
    5 backlog      6 noisy    7 celery    8 postgres
    9 hostile_template   10 sustained   11 otel   12 fifo
"""

from __future__ import annotations

from types import ModuleType

from benchmarks.scenarios import (
    backlog,
    celery,
    fanout,
    fifo,
    hostile,
    ingest,
    latency,
    noisy,
    otel,
    postgres,
    sustained,
    throughput,
)

SCENARIOS: dict[str, ModuleType] = {
    "throughput": throughput,
    "ingest": ingest,
    "latency": latency,
    "fanout": fanout,
    "backlog": backlog,
    "noisy": noisy,
    "celery": celery,
    "postgres": postgres,
    "hostile_template": hostile,
    "sustained": sustained,
    "otel": otel,
    "fifo": fifo,
}


def select(names: list[str]) -> list[str]:
    """Turn `1 3 noisy` into scenario keys; no names means all of them."""
    keys = list(SCENARIOS)
    if not names:
        return keys
    chosen: list[str] = []
    for name in names:
        key = keys[int(name) - 1] if name.isdigit() and 0 < int(name) <= len(keys) else name
        if key not in SCENARIOS:
            raise ValueError(f"unknown scenario {name!r}; choose from 1-{len(keys)} or {keys}")
        if key not in chosen:
            chosen.append(key)
    return chosen
