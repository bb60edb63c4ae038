"""Configure logging: hookd's level for `hookd.*` only, libraries quieter, secrets redacted.

Third-party loggers (aiosqlite, sqlalchemy, asyncpg, aiohttp, uvicorn) print SQL
parameters and request headers at DEBUG, which carry webhook secrets, so they
keep their own, higher level (`HOOKD_LOG_LEVEL_LIBRARIES`, default warning).
"""

from __future__ import annotations

import logging
import re
import sys

__all__ = ["REDACTED", "RedactSecrets", "configure", "redact", "remember_secret"]

REDACTED = "[redacted]"

# whsec_ / whsk_ webhook secrets and hk_ app keys; whpk_ public keys are not secret.
_PATTERN = re.compile(r"(?<![A-Za-z0-9])(?:whsec|whsk|hk)_[A-Za-z0-9+/=_\-]+")
_known: set[str] = set()


def remember_secret(value: str) -> None:
    """Redact this exact value (e.g. a secret header's value) from every later log line."""
    if len(value) >= 6:
        _known.add(value)


def redact(text: str) -> str:
    """Return the text with every hookd secret, key and remembered value replaced."""
    text = _PATTERN.sub(REDACTED, text)
    for value in _known:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


class RedactSecrets(logging.Filter):
    """Redact secrets in a record's formatted message (its args included) and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw text, still redacted
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


def configure(level: str, libraries: str = "warning") -> None:
    """Send logs to stderr: `hookd.*` at `level`, every other logger at `libraries`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(libraries.upper())
    logging.getLogger("hookd").setLevel(level.upper())
