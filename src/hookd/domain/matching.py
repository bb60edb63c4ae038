"""Event type names and the patterns webhooks subscribe with.

A name is `noun.verb` (lowercase letters, digits, `_`, `-`, at least one dot):
`job.start`, `request.team-changed`. A pattern is a name, a prefix ending in
`.*` (`job.*` matches `job.start` and `job.task.done`), or `*` for everything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_SEGMENT = r"[a-z0-9][a-z0-9_-]*"
_NAME = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})+$")
_PREFIX_PATTERN = re.compile(rf"^{_SEGMENT}(\.{_SEGMENT})*\.\*$")
MAX_NAME_LENGTH = 128


def is_event_type_name(value: str) -> bool:
    """Tell whether `value` is a valid event type name."""
    return len(value) <= MAX_NAME_LENGTH and bool(_NAME.match(value))


def is_pattern(value: str) -> bool:
    """Tell whether `value` is a wildcard pattern (not a plain name)."""
    return value == "*" or (bool(_PREFIX_PATTERN.match(value)) and len(value) <= MAX_NAME_LENGTH)


def patterns_matching(event_type: str) -> list[str]:
    """List every subscription string that matches `event_type`.

    Fan-out looks these up in an index, so its cost follows the number of
    matching webhooks, not the number of webhooks.
    """
    parts = event_type.split(".")
    found = [event_type, "*"]
    found.extend(".".join(parts[:i]) + ".*" for i in range(1, len(parts)))
    return found


def matches(subscriptions: Iterable[str], event_type: str) -> bool:
    """Tell whether any of `subscriptions` matches `event_type`."""
    wanted = set(patterns_matching(event_type))
    return any(s in wanted for s in subscriptions)
