"""What a fault scenario owed and what arrived: one row of the table.

accepted    events that got a 202
expected    accepted x webhooks: the (webhook, event) pairs owed
unique      expected pairs the receiver got at least once
lost        expected pairs it never got
duplicates  requests beyond the first, over every pair
drain       seconds from the later of the fault's end and the last 202 until
            the last expected pair first arrived (none when something is lost)
stale       records applied that the receiver contradicts, read through the API:
            a delivery the receiver answered 200 that did not end `succeeded`;
            a delivery with more `timeout` attempts (not `superseded`) than the
            receiver had requests of it abandoned by the client; a webhook that
            ends with `failure_streak` > 0 although every delivery got through,
            or with a `timed out` last_error although no request of it was abandoned
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson

from faults.publisher import HEADERS, Published
from faults.receiver import Pair
from faults.rig import Rx

TARGET_DRAIN = 10.0  # seconds
PairStats = dict[str, Pair]


@dataclass
class Row:
    scenario: str
    accepted: int = 0
    expected: int = 0
    unique: int = 0
    lost: int = 0
    duplicates: int = 0
    drain: float | None = None
    stale: int = 0
    checks: dict[str, bool] = field(default_factory=dict)  # the scenario's own targets
    notes: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0

    @property
    def failures(self) -> list[str]:
        """Name every target missed (empty: the row passes)."""
        missed = [name for name, met in self.checks.items() if not met]
        if self.lost:
            missed.insert(0, f"{self.lost} lost")
        if self.drain is None or self.drain > TARGET_DRAIN:
            missed.append("drain > 10 s" if self.drain is not None else "no drain")
        if self.stale:
            missed.append(f"{self.stale} stale")
        if not self.accepted:
            missed.append("nothing accepted")
        if self.error:
            missed.append(self.error)
        return missed

    @property
    def passed(self) -> bool:
        return not self.failures


async def received(rx: Rx, expected: set[str], seconds: float) -> PairStats:
    """Poll the receiver until it answered every expected pair, or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while True:
        pairs = await rx.pairs()
        done = all(k in pairs and pairs[k].answered for k in expected)
        if done or time.monotonic() >= deadline:
            return pairs
        await asyncio.sleep(0.25)


def owed_at(
    pairs: PairStats, published: Published, paths: list[str], moment: float, since: float
) -> float | None:
    """Return how long after `since` the last pair owed at `moment` arrived (None: one never did).

    Owed at `moment`: its event had its 202 by then, and it had not arrived yet.
    """
    latest = since
    for event_id, accepted_at in published.accepted.items():
        if accepted_at > moment:
            continue
        for path in paths:
            pair = pairs.get(f"{path}|{event_id}")
            if pair is None or not pair.answered:
                return None
            latest = max(latest, pair.answered_first)
    return latest - since


def answered_twice(pairs: PairStats) -> int:
    """Count requests beyond the first that no abandoned (timed-out, cut) request explains."""
    return sum(max(0, p.requests - 1 - p.abandoned) for p in pairs.values())


class Api:
    """The read calls the tally makes on hookd's API."""

    def __init__(self, session: aiohttp.ClientSession, base_url: str) -> None:
        self.session = session
        self.base = f"{base_url}/v1/apps/default"

    async def get(self, path: str, **params: str) -> Any:
        async with self.session.get(self.base + path, params=params, headers=HEADERS) as r:
            payload = await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {path} -> {r.status}: {payload[:300]!r}")
            return orjson.loads(payload)

    async def deliveries(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(10_000):  # pages of 250: bounded far above any scenario
            params = {"limit": "250", **({"cursor": cursor} if cursor else {})}
            page = await self.get("/deliveries", **params)
            found += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found

    async def settled(self, seconds: float) -> bool:
        """Wait until no delivery is pending or sending; False if `seconds` pass first."""
        deadline = time.monotonic() + seconds
        while True:
            busy = [
                (await self.get("/deliveries", status=s, limit="1"))["data"]
                for s in ("pending", "sending")
            ]
            if not any(busy):
                return True
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.25)


async def tally(
    row: Row,
    rx: Rx,
    api: Api,
    webhooks: dict[str, str],
    published: Published,
    fault_end: float,
    *,
    wait: float,
) -> Row:
    """Fill `row` from the receiver's pairs and hookd's records; `webhooks` is {id: path}."""
    paths = list(webhooks.values())
    expected = {f"{p}|{e}" for e in published.accepted for p in paths}
    await received(rx, expected, max(1.0, fault_end + wait - time.time()))
    if not await api.settled(15.0):
        row.notes.append("deliveries still pending or sending 15 s after the drain")
    pairs = await rx.pairs()  # again: retries may have come while hookd settled
    row.accepted, row.expected = len(published.accepted), len(expected)
    got = expected & pairs.keys()
    row.unique, row.lost = len(got), len(expected - got)
    row.duplicates = sum(p.requests - 1 for p in pairs.values())
    start = max(fault_end, published.last_accept)
    if got:
        # A request the receiver never answered (it hung up, or hung) has not arrived yet.
        drain = max(0.0, max(pairs[k].answered_first or pairs[k].first for k in got) - start)
        if row.lost:
            row.notes.append(f"the {len(got):,} pairs that arrived drained in {drain:.1f} s")
        else:
            row.drain = drain
    row.notes.append(
        f"{published.given_up} publishes given up; other answers: "
        + (", ".join(f"{n} x {k}" for k, n in published.answers.most_common()) or "none")
        + f"; {len(pairs) - len(got)} unexpected pairs; "
        f"{answered_twice(pairs)} duplicates of requests the receiver had answered"
    )
    if got:
        slowest = max(
            (pairs[k].answered_first or pairs[k].first) - published.accepted[k.split("|", 1)[1]]
            for k in got
        )
        row.notes.append(f"slowest pair arrived {slowest:.1f} s after its 202")
    row.stale = await _stale(row, api, webhooks, pairs, set(published.accepted))
    return row


async def _stale(
    row: Row, api: Api, webhooks: dict[str, str], pairs: PairStats, accepted: set[str]
) -> int:
    stale = 0
    statuses: Counter[str] = Counter()
    superseded = timeouts = 0
    abandoned_by_path: Counter[str] = Counter()
    for key, pair in pairs.items():
        abandoned_by_path[key.split("|", 1)[0]] += pair.abandoned
    for d in await api.deliveries():
        if d["event_id"] not in accepted or d["webhook_id"] not in webhooks:
            continue
        statuses[d["status"]] += 1
        pair = pairs.get(f"{webhooks[d['webhook_id']]}|{d['event_id']}", Pair())
        if d["status"] != "succeeded" and pair.answered:
            stale += 1
            continue
        if d["status"] == "succeeded" and d["attempts"] == 1 and pair.requests == 1:
            continue
        log = (await api.get(f"/deliveries/{d['id']}"))["attempt_log"]
        superseded += sum(a["outcome"] == "superseded" for a in log)
        timed_out = sum(
            (a.get("error") or {}).get("code") == "timeout" and a["outcome"] != "superseded"
            for a in log
        )
        timeouts += timed_out
        if timed_out > pair.abandoned:
            stale += 1
    for webhook_id, path in webhooks.items():
        wh = await api.get(f"/webhooks/{webhook_id}")
        timed_out = "timed out" in (wh["last_error"] or "") and not abandoned_by_path[path]
        if wh["failure_streak"] > 0 or timed_out:
            stale += 1
        row.notes.append(
            f"webhook {path}: failure_streak {wh['failure_streak']}, "
            f"last_error {wh['last_error']!r}, last_error_at {wh.get('last_error_at')!r}"
        )
    row.notes.append(
        "deliveries "
        + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
        + f"; timeout attempts {timeouts}, superseded attempts {superseded}"
    )
    return stale
