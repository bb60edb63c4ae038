"""Who is subscribed to an event type, read from the database once per change.

Publishing needs, for each event type, the enabled webhooks subscribed to it
with their filter and mode. Read from the database each time, that is one row
per webhook: at 1,000 webhooks 3.7 ms of each publish (measured in-process).
`Subscriptions` keeps what it read, per (app, event type), and reads the
database again only after `subscriptions.version` moved. Migration 0005's
triggers move that number in the same transaction as any change that decides
who gets an event: a webhook created or deleted, its `enabled`, `filter` or
`mode` changed, or its event list changed. Each publish reads the number in
its own transaction (one row), so a change committed before it is always seen,
by every process.

On PostgreSQL several publishing transactions interleave. What one of them
reads is kept only while the version it read is still the newest this process
has seen, so rows read before a change never stand for the version after it.
One that read an older version may use the copy of a newer one: it sees the
change a moment early, as it would have had it started a moment later.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from hookd.domain.matching import patterns_matching
from hookd.store import direct
from hookd.store.records import FanoutTarget

# (app, event type) pairs kept at most; past that the copy starts again.
MOST_KEPT = 10_000

_VERSION = "SELECT version FROM subscriptions WHERE id = 1"
_TARGETS = (
    "SELECT webhook_events.pattern, webhooks.id, webhooks.filter, webhooks.mode,"
    " webhooks.ordering, webhooks.ordering_key"
    " FROM webhook_events JOIN webhooks ON webhooks.id = webhook_events.webhook_id"
    " WHERE webhook_events.app_id = ? AND webhooks.enabled = ? AND webhook_events.pattern"
)

Targets = dict[str, list[FanoutTarget]]  # by event type: subscribed webhooks, by id


class Subscriptions:
    """One process's copy of who is subscribed to what, checked against the version."""

    def __init__(self) -> None:
        self._version: int | None = None
        self._kept: dict[tuple[str, str], list[FanoutTarget]] = {}
        self.reads = 0  # how many times the subscriptions were read from the database

    def targets(self, tx: direct.Tx, app_id: str, types: Iterable[str]) -> Targets:
        """Return, by event type, the enabled webhooks subscribed to it, as of `tx`."""
        [(version,)] = tx.rows(_VERSION)
        if self._version is None or version > self._version:  # it only goes up
            self._kept = {}
            self._version = version
        seen = {t: self._kept.get((app_id, t)) for t in set(types)}
        known = {t: targets for t, targets in seen.items() if targets is not None}
        missing = seen.keys() - known.keys()
        if missing:
            found = _read(tx, app_id, missing)
            self.reads += 1
            # Another transaction may have seen a newer version meanwhile (PostgreSQL).
            if version == self._version:
                if len(self._kept) + len(missing) > MOST_KEPT:
                    self._kept = {}
                for event_type in missing:
                    self._kept[(app_id, event_type)] = found.get(event_type, [])
            for event_type in missing:
                known[event_type] = found.get(event_type, [])
        return {t: targets for t, targets in known.items() if targets}

    def known(self, app_id: str, types: Iterable[str]) -> tuple[int, Targets] | None:
        """Return the newest version seen and the copy for these types, if it has them all.

        For a writer that checks the version itself (store/events.py, on PostgreSQL).
        """
        if self._version is None:
            return None
        out: Targets = {}
        for event_type in types:
            targets = self._kept.get((app_id, event_type))
            if targets is None:
                return None
            if targets:
                out[event_type] = targets
        return self._version, out


def _read(tx: direct.Tx, app_id: str, types: Iterable[str]) -> Targets:
    """Read, by event type, the enabled webhooks subscribed to it (by id)."""
    wanted: dict[str, list[str]] = {}
    for event_type in types:
        for pattern in patterns_matching(event_type):
            wanted.setdefault(pattern, []).append(event_type)
    among, params = tx.among(sorted(wanted))
    by_type: dict[str, dict[str, FanoutTarget]] = {}
    for pattern, webhook_id, filter_json, mode, ordering, key in tx.rows(
        _TARGETS + among, (app_id, True, *params)
    ):
        target = FanoutTarget(
            webhook_id,
            orjson.loads(filter_json) if filter_json else None,
            mode,
            (key or "") if ordering == "fifo" else None,
        )
        for event_type in wanted[pattern]:
            by_type.setdefault(event_type, {})[webhook_id] = target
    return {t: sorted(found.values(), key=lambda x: x.webhook_id) for t, found in by_type.items()}
