"""The delivery limit: post prepared envelopes to the sink with aiohttp on uvloop, no storage.

    python -m benchmarks.baselines.raw_client --url URL --paths 10 --count N --concurrency C

Prints one JSON line: {"sent", "errors", "seconds"}.
"""

from __future__ import annotations

import argparse
import time

import aiohttp
import orjson
import uvloop

from benchmarks.api import event_data
from benchmarks.load import closed_loop
from hookd import ids
from hookd.domain.envelope import envelope_from_raw


def bodies(count: int) -> list[tuple[str, bytes]]:
    """Return (event id, standard envelope) pairs like the ones hookd sends."""
    now = time.time()
    out = []
    for i in range(count):
        event_id = ids.new_id("evt", now)
        data = orjson.dumps(event_data(i))
        out.append((event_id, envelope_from_raw(event_id, "bench.e0", now, True, data)))
    return out


async def run(
    url: str, paths: int, count: int, concurrency: int, seconds: float
) -> dict[str, float]:
    prepared = bodies(count)
    cpu = time.process_time()
    urls = [f"{url}/hook/{i}" for i in range(paths)]
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def send(i: int) -> None:
            event_id, body = prepared[i]
            headers = {"content-type": "application/json", "webhook-id": event_id}
            async with session.post(urls[i % paths], data=body, headers=headers) as response:
                await response.read()
                response.raise_for_status()

        done = await closed_loop(send, total=count, concurrency=concurrency, seconds=seconds)
    return {
        "sent": done.completed,
        "errors": done.errors,
        "seconds": done.seconds,
        "cpu": time.process_time() - cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--paths", type=int, default=10)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=120)
    args = parser.parse_args()
    result = uvloop.run(run(args.url, args.paths, args.count, args.concurrency, args.seconds))
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
