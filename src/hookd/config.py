"""Settings, read from `HOOKD_*` environment variables and CLI flags.

Every field is documented where it is declared; `hookd serve --help` and
docs/configuration.md list the same names.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


def default_db_url() -> str:
    """Return the SQLite file under ./.hookd/ used when no database is named."""
    return f"sqlite:///{Path(os.getcwd()) / '.hookd' / 'hookd.db'}"


class Settings(BaseSettings):
    """All of hookd's knobs. Each one is `HOOKD_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HOOKD_", extra="ignore")

    db: str = Field(default_factory=default_db_url)
    """Database URL: `sqlite:///path` (default: ./.hookd/hookd.db) or `postgresql://…`."""

    admin_key: str | None = None
    """Instance admin key. Unset: `hookd serve` generates one on first start and prints it once."""

    dev: bool = False
    """Allow http:// URLs and loopback/private targets, for trying hookd on one machine."""

    host: str = "127.0.0.1"
    """Address the API listens on."""

    port: int = 8000
    """Port the API listens on."""

    public_url: str | None = None
    """How hookd is reached from outside (`system.url` in templates); default http://HOST:PORT."""

    retry_schedule: Annotated[tuple[float, ...], NoDecode] = DEFAULT_RETRY_SCHEDULE
    """Seconds to wait before each retry; comma-separated. Attempts = entries + 1."""

    retry_jitter: float = 0.2
    """Fraction of each retry delay added or removed at random (0.2 = ±20 %)."""

    request_timeout: float = 15.0
    """Seconds one HTTP attempt may take, connection included."""

    concurrency: int = 200
    """Requests one worker keeps in flight at most, over all webhooks."""

    claim_batch: int = 200
    """Deliveries a worker claims in one statement at most."""

    lease_seconds: float = 60.0
    """How long a claimed delivery belongs to its worker; after that another may take it."""

    shutdown_grace: float = 10.0
    """Seconds a stopping worker lets in-flight attempts finish before releasing them."""

    poll_interval: float = 1.0
    """Seconds between looks for due deliveries when nothing wakes the worker sooner."""

    max_body_bytes: int = 1024 * 1024
    """Largest request body the API accepts (413 beyond)."""

    max_response_bytes: int = 64 * 1024
    """Bytes of a receiver's response body kept in the attempt log."""

    idempotency_hours: float = 24.0
    """How long an Idempotency-Key (or event id) returns the original event."""

    batch_max_events: int = 1000
    """Most events `POST …/events/batch` takes in one call."""

    log_level: str = "info"
    """Log level: debug, info, warning, error."""

    @field_validator("retry_schedule", mode="before")
    @classmethod
    def _parse_schedule(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                parts = tuple(float(p) for p in value.split(",") if p.strip())
            except ValueError as exc:
                raise ValueError("retry_schedule must be comma-separated seconds") from exc
            return parts
        return value

    @field_validator("retry_schedule")
    @classmethod
    def _check_schedule(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(v < 0 for v in value):
            raise ValueError("retry_schedule entries must be >= 0")
        return value

    def self_addresses(self) -> set[tuple[str, int]]:
        """Return the (address, port) pairs at which hookd reaches itself (for chaining)."""
        return {(self.host, self.port), ("127.0.0.1", self.port)}

    @property
    def base_url(self) -> str:
        """Return the URL by which hookd's own API is reached."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
