"""Prometheus metrics, served at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS_INGESTED = Counter("hookd_events_ingested_total", "Events accepted by the API.")
DELIVERIES_CREATED = Counter("hookd_deliveries_created_total", "Deliveries created by fan-out.")
ATTEMPTS = Counter("hookd_attempts_total", "HTTP attempts made, by outcome.", ["outcome"])
ATTEMPT_SECONDS = Histogram(
    "hookd_attempt_duration_seconds",
    "Duration of HTTP attempts.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
DELIVERIES_PENDING = Gauge(
    "hookd_deliveries_pending", "Deliveries waiting for an attempt (read at scrape time)."
)
IN_FLIGHT = Gauge("hookd_attempts_in_flight", "Attempts this process has in flight.")
RECORD_ERRORS = Counter(
    "hookd_record_errors_total", "Failed writes of attempt outcomes (retried; leases cover them)."
)
SUPERSEDED_RECORDS = Counter(
    "hookd_superseded_attempts_total",
    "Attempt outcomes recorded after their lease was taken over: kept in the log, applied to"
    " nothing.",
)
LEASES_TAKEN_OVER = Counter(
    "hookd_leases_taken_over_total",
    "Deliveries released from processes found dead (gone, or heartbeat stale).",
)
CIRCUIT_HELD = Counter(
    "hookd_circuit_held_total",
    "Deliveries held back (not sent) because their webhook's circuit was open.",
)
MAILS_SENT = Counter("hookd_mails_sent_total", "Failure digests e-mailed to webhook owners.")
MAIL_ERRORS = Counter(
    "hookd_mail_errors_total", "Failure digests that could not be sent (tried again later)."
)
OPERATIONAL_EVENTS = Counter(
    "hookd_operational_events_total", "Operational events hookd published, by type.", ["type"]
)
DATABASE_ERRORS = Counter(
    "hookd_database_errors_total",
    "Operations that failed because the database could not be reached, by operation.",
    ["operation"],
)
