"""Settings, read from `HOOKD_*` environment variables and CLI flags.

Every field is documented where it is declared; `hookd serve --help` and
docs/configuration.md list the same names.
"""

from __future__ import annotations

import os
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_RETRY_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)


def usable_cores() -> int:
    """Return the cores this process may run on (its CPU affinity), 1 to 64."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # no affinity on this platform (macOS)
        count = os.cpu_count() or 1
    return max(1, min(64, count))


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
    """Last resort: a claim with no live owner to vouch for it is free after this long.

    A delivering process holds its claims for as long as it lives (heartbeats below)."""

    heartbeat_seconds: float = Field(default=3.0, gt=0)
    """Seconds between a delivering process's heartbeats (its `workers` row)."""

    heartbeat_timeout: float = Field(default=10.0, gt=0)
    """A process whose heartbeat is older than this is presumed dead: others take over
    what it was sending. A process gone from the same host is taken over at once."""

    shutdown_grace: float = 10.0
    """Seconds a stopping worker lets in-flight attempts finish before releasing them."""

    poll_interval: float = 1.0
    """Seconds between looks for due deliveries when nothing wakes the worker sooner."""

    stalled_session_seconds: float = Field(default=30.0, ge=1)
    """PostgreSQL: end hookd's sessions stalled this long mid-statement on a frozen process.

    Such a session keeps its row locks; every worker checks for them (store/sessions.py)."""

    delivery_processes: int = Field(default_factory=usable_cores, ge=1, le=64)
    """Processes `hookd serve` delivers with: itself plus N-1 `hookd worker` children.

    Default: the cores hookd may run on (`os.sched_getaffinity`), as one process
    delivers on one core. Set 1 where per-webhook limits must hold exactly."""

    max_body_bytes: int = 1024 * 1024
    """Largest request body the API accepts (413 beyond)."""

    max_response_bytes: int = 64 * 1024
    """Bytes of a receiver's response body kept in the attempt log."""

    idempotency_hours: float = 24.0
    """How long an Idempotency-Key (or event id) returns the original event."""

    batch_max_events: int = 1000
    """Most events `POST …/events/batch` takes in one call."""

    log_level: str = "info"
    """Log level of hookd's own loggers: debug, info, warning, error."""

    log_level_libraries: str = "warning"
    """Log level of third-party loggers (SQLAlchemy, aiosqlite, aiohttp, uvicorn).

    Kept apart from `log_level` because their DEBUG lines print SQL parameters."""

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

    retention_days: float = Field(30.0, ge=0)
    """Days finished deliveries, their attempts and their events are kept; 0 keeps them forever."""

    purge_interval: float = Field(3600.0, gt=0)
    """Seconds between purges, run by each process that runs the worker (`hookd purge` by hand)."""

    # When endpoints fail (issue 6): auto-disable, owner e-mail, circuit breaker, limits.

    disable_after_failed_attempts: int = Field(100, ge=0)
    """Disable a webhook after this many failed attempts in a row; 0: never (per webhook too)."""

    disable_after_seconds: float = Field(5 * 86400.0, ge=0)
    """Disable a webhook failing this many seconds without a success; 0: never (per webhook too)."""

    smtp_url: SecretStr | None = None
    """Mail server for failure digests: `smtp[s]://[user[:password]@]host[:port][?from=…]`."""

    mail_interval: float = Field(3600.0, gt=0)
    """Seconds between two failure digests to one webhook's owners (`mail_exceptions_to`)."""

    circuit_after_failures: int = Field(20, ge=0)
    """Failed attempts in a row that open a webhook's circuit (one probe per interval); 0: never."""

    circuit_interval: float = Field(60.0, gt=0)
    """Seconds between probes of a webhook whose circuit is open."""

    allowed_targets: Annotated[tuple[IPv4Network | IPv6Network, ...], NoDecode] = ()
    """Private networks webhooks may reach without --dev: comma-separated CIDRs (`10.1.0.0/16`)."""

    max_request_bytes: int = Field(10 * 1024 * 1024, gt=0)
    """Largest request body hookd sends; a bigger rendered body fails (`body_too_large`)."""

    max_response_header_bytes: int = Field(8190, ge=256)
    """Longest status or header line hookd reads in a response (`response_too_large` beyond)."""

    template_max_bytes: int = Field(1024 * 1024, gt=0)
    """Largest output one template render may produce (`template_error` beyond)."""

    template_max_seconds: float = Field(1.0, gt=0)
    """Longest one template render may run (`template_error` beyond)."""

    @field_validator("allowed_targets", mode="before")
    @classmethod
    def _parse_targets(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            try:
                return tuple(ip_network(str(v).strip(), strict=False) for v in value)
            except ValueError as exc:
                raise ValueError(f"allowed_targets must be comma-separated CIDRs: {exc}") from exc
        return value

    template_processes: int = Field(2, ge=0, le=64)
    """Processes that render templates, per hookd process (0: a thread, without isolation).

    Jinja holds the GIL, so only a process keeps a slow template off the API's CPU
    and lets hookd stop a render at `template_max_seconds` (delivery/rendering.py)."""

    template_renders_per_app: int = Field(1, ge=1, le=64)
    """Renders of one app that run at once per hookd process; the app's others queue."""

    otel_endpoint: str | None = None
    """OTLP/HTTP base URL for OpenTelemetry traces and metrics (`http://collector:4318`).

    Unset: `OTEL_EXPORTER_OTLP_ENDPOINT` (and the other `OTEL_EXPORTER_OTLP_*`); both unset:
    telemetry is off and OpenTelemetry is not even imported (docs/observability.md)."""

    otel_service_name: str | None = None
    """`service.name` of hookd's spans and metrics; unset: `OTEL_SERVICE_NAME`, else `hookd`."""

    otel_sample_ratio: float = Field(0.1, ge=0, le=1)
    """Share of the events published without a sampled `traceparent` that hookd traces.

    An event whose publisher sent a sampled `traceparent` is always traced (parent-based);
    `OTEL_TRACES_SAMPLER` (and `_ARG`), when set, decides instead. Each traced attempt
    costs ~115 µs of CPU (docs/observability.md, benchmarks scenario 11)."""
