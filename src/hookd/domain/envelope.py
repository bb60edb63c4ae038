"""The standard envelope: the JSON body sent when a webhook has no template."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson


def rfc3339(ts: float) -> str:
    """Format Unix seconds as RFC 3339 UTC with milliseconds: `2026-11-22T04:38:54.123Z`."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(event_id: str, event_type: str, timestamp: float, live: bool, data: Any) -> bytes:
    """Return the standard envelope as JSON bytes."""
    return orjson.dumps(
        {
            "id": event_id,
            "type": event_type,
            "timestamp": rfc3339(timestamp),
            "live": live,
            "data": data,
        }
    )


def envelope_from_raw(
    event_id: str, event_type: str, timestamp: float, live: bool, raw_data: bytes
) -> bytes:
    """Return the envelope around data that is already JSON, without parsing it again."""
    head = orjson.dumps(
        {"id": event_id, "type": event_type, "timestamp": rfc3339(timestamp), "live": live}
    )
    return head[:-1] + b',"data":' + raw_data + b"}"
