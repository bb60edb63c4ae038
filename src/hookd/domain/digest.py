"""Compose the e-mail that tells a webhook's owners what failed and how to recover.

One digest per webhook per interval: the failed deliveries (newest first, with
links) and, when hookd disabled the webhook, why and how to enable it again.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit, urlunsplit

__all__ = ["FailureNote", "compose_digest"]

# Names and errors come from users and remote servers: keep each on one line so
# they cannot forge lines of the body or break the Subject header.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_NAME_LIMIT = 80
_TEXT_LIMIT = 300


@dataclass(frozen=True)
class FailureNote:
    """One delivery that failed for good."""

    delivery_id: str
    event_id: str
    event_type: str
    at: float  # Unix seconds of the last attempt
    error: str  # e.g. "404 Not Found", "timed out after 15 s"


def compose_digest(
    *,
    webhook_id: str,
    webhook_name: str,
    webhook_url: str,
    failures: Sequence[FailureNote],
    disabled_reason: str | None,
    base_url: str,
    app: str,
    max_listed: int = 50,
) -> tuple[str, str]:
    """Return the subject and plain-text body of a failure digest."""
    name = _line(webhook_name, _NAME_LIMIT) or _line(webhook_id, _NAME_LIMIT)
    webhook_api = f"{base_url.rstrip('/')}/v1/apps/{quote(app, safe='')}"
    webhook_link = f"{webhook_api}/webhooks/{quote(webhook_id, safe='')}"
    count = len(failures)
    deliveries = f"{count} {'delivery' if count == 1 else 'deliveries'}"

    if disabled_reason is not None:
        subject = f'[hookd] webhook "{name}" disabled'
        opening = [
            f'hookd disabled the webhook "{name}" and sends it no events until it is',
            "enabled again.",
            "",
            f"Reason: {_line(disabled_reason, _TEXT_LIMIT) or 'not given'}",
        ]
    else:
        subject = f'[hookd] {deliveries} failed for webhook "{name}"'
        them = "it" if count == 1 else "them"
        opening = [
            f'{deliveries.capitalize()} to the webhook "{name}" failed; hookd will not',
            f"retry {them} on its own.",
        ]

    lines = [
        *opening,
        "",
        f"Webhook: {name}",
        f"ID:      {_line(webhook_id, _NAME_LIMIT)}",
        f"URL:     {_public_url(webhook_url)}",
    ]
    if disabled_reason is not None:
        lines += [
            "",
            "To enable it again once the endpoint works, send:",
            "",
            f"    PATCH {webhook_link}",
            '    {"enabled": true}',
        ]
    if failures:
        lines += ["", *_failure_list(failures, webhook_api, max_listed)]
        lines += [
            "",
            "To send the failed deliveries again, send:",
            "",
            f"    POST {webhook_link}/recover",
        ]
        known = [note.at for note in failures if math.isfinite(note.at)]
        if known:
            lines.append(f"    {json.dumps({'since': _utc(min(known))})}")
    lines += [
        "",
        "-- ",
        "You receive this because your address is in the webhook's mail_exceptions_to.",
    ]
    return subject, "\n".join(lines) + "\n"


def _failure_list(failures: Sequence[FailureNote], webhook_api: str, max_listed: int) -> list[str]:
    newest_first = sorted(failures, key=_time, reverse=True)
    listed = newest_first[: max(0, max_listed)]
    lines = [f"Failed deliveries ({len(failures)}), newest first:", ""]
    for note in listed:
        event_type = _line(note.event_type, _NAME_LIMIT) or "(no type)"
        error = _line(note.error, _TEXT_LIMIT) or "(no error recorded)"
        lines += [
            f"  {_utc(note.at)}  {event_type}  {error}",
            f"    {webhook_api}/deliveries/{quote(note.delivery_id, safe='')}",
        ]
    if len(newest_first) > len(listed):
        lines.append(f"  … and {len(newest_first) - len(listed)} more")
    return lines


def _line(text: str, limit: int) -> str:
    """Return `text` on one line, at most `limit` characters."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _public_url(url: str) -> str:
    """Return `url` without userinfo, query or fragment: they may hold tokens."""
    try:
        parts = urlsplit(_line(url, 2000))
    except ValueError:
        return "(not shown: it cannot be parsed)"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _time(note: FailureNote) -> float:
    # A NaN would make sorting and min() meaningless; put unknown times last.
    return note.at if math.isfinite(note.at) else -math.inf


def _utc(ts: float) -> str:
    """Format Unix seconds as RFC 3339 UTC, whole seconds rounded down."""
    try:
        moment = datetime.fromtimestamp(math.floor(ts), UTC)
    except (ValueError, OverflowError, OSError):
        return "(unknown time)"
    return moment.isoformat().replace("+00:00", "Z")
