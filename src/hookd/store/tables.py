"""The schema, as SQLAlchemy Core tables. Migrations are generated from it.

Times are Unix seconds in double precision; JSON is stored as text so the
bytes a producer sent are the bytes a receiver gets, on both databases.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Time = sa.Float(precision=53)


def _app_fk() -> sa.ForeignKey:
    return sa.ForeignKey("apps.id", ondelete="CASCADE")


def _webhook_fk() -> sa.ForeignKey:
    return sa.ForeignKey("webhooks.id", ondelete="CASCADE")


# Teams: organizations own apps; people are members of both (domain/roles.py).
orgs = sa.Table(
    "orgs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Time, nullable=False),
)

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("email", sa.String(320), nullable=False, unique=True),  # stored lower-case
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("password_hash", sa.Text),  # argon2id; NULL: token-only user
    sa.Column("admin", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

org_members = sa.Table(
    "org_members",
    metadata,
    sa.Column(
        "org_id", sa.String(40), sa.ForeignKey("orgs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_org_members_user_id", "user_id"),
)

app_members = sa.Table(
    "app_members",
    metadata,
    sa.Column(
        "app_id", sa.String(40), sa.ForeignKey("apps.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column(
        "user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Index("ix_app_members_user_id", "user_id"),
)

# Who changed what: webhooks, members, keys and tokens (never a secret's value).
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("org_id", sa.String(40), nullable=False),
    sa.Column("app_id", sa.String(40)),
    sa.Column("actor", sa.String(80), nullable=False),  # usr_… | key_… | "admin"
    sa.Column("action", sa.String(64), nullable=False),  # e.g. webhook.update
    sa.Column("target", sa.String(80), nullable=False),
    sa.Column("changed", sa.Text, nullable=False, server_default="[]"),  # JSON field names
    sa.Column("at", Time, nullable=False),
    sa.Index("ix_audit_log_org_id_id", "org_id", "id"),
)

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("uid", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("org_id", sa.String(40), sa.ForeignKey("orgs.id"), nullable=False, index=True),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), _app_fk()),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("revoked_at", Time),
    # A user's token: app_id is NULL and user_id names the user. The admin key
    # has neither. An app key's role (KeyRole) says what it may do in its app.
    sa.Column("user_id", sa.String(40), sa.ForeignKey("users.id", ondelete="CASCADE")),
    sa.Column("role", sa.String(16), nullable=False, server_default="owner"),
)

event_types = sa.Table(
    "event_types",
    metadata,
    sa.Column("app_id", sa.String(40), _app_fk(), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("group_name", sa.String(200), nullable=False, server_default=""),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("sample", sa.Text, nullable=False, server_default="{}"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), _app_fk(), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("description", sa.Text, nullable=False, server_default=""),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("events", sa.Text, nullable=False),  # JSON list of names/patterns
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("method", sa.String(8), nullable=False, server_default="POST"),
    sa.Column("content_type", sa.String(64), nullable=False, server_default="application/json"),
    sa.Column("headers", sa.Text, nullable=False, server_default="{}"),
    sa.Column("body_template", sa.Text),
    sa.Column("filter", sa.Text),
    sa.Column("secret", sa.Text),
    sa.Column("mail_exceptions_to", sa.Text, nullable=False, server_default=""),
    sa.Column("last_error", sa.Text),
    sa.Column("disabled_reason", sa.Text),
    sa.Column("failure_streak", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # Request shaping (issue 5)
    sa.Column("signing", sa.Text, nullable=False, server_default='["standard"]'),
    sa.Column("secret_headers", sa.Text, nullable=False, server_default="[]"),
    sa.Column(
        "old_secrets", sa.Text, nullable=False, server_default="[]"
    ),  # [{secret, expires_at}]
    # Health and isolation (issue 6)
    sa.Column("disable_after_failures", sa.Integer),  # None: the instance setting
    sa.Column("disable_after_seconds", Time),  # None: the instance setting
    sa.Column("failing_since", Time),  # first failure of the current streak
    sa.Column("last_success_at", Time),
    sa.Column("max_in_flight", sa.Integer, nullable=False, server_default="10"),
    sa.Column("rate_limit", sa.Float),  # requests per second; None: unlimited
    sa.Column("circuit_open_until", Time),  # None: closed
    sa.Column("mail_sent_at", Time),  # last digest e-mail, for the per-webhook interval
    # Queued batch delivery (issue 7)
    sa.Column("mode", sa.String(16), nullable=False, server_default="immediate"),
    sa.Column("batch_order", sa.String(16), nullable=False, server_default="chronological"),
    sa.Column("batch_max_events", sa.Integer, nullable=False, server_default="100"),
    sa.Column("batch_interval", Time),  # seconds; None: only flush on command
    sa.Column("next_flush_at", Time),
    sa.Column("last_error_at", Time),  # when last_error was last set
    # Ordered delivery (migration 0010): none | fifo, and the key template of its lines
    sa.Column("ordering", sa.String(8), nullable=False, server_default="none"),
    sa.Column("ordering_key", sa.Text),
    sa.Index("ix_webhooks_app_id_id", "app_id", "id"),
)

# One row per (webhook, subscription string): fan-out looks up the strings
# that match an event type, so its cost follows the matching webhooks only.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("app_id", sa.String(40), primary_key=True),
    sa.Column("pattern", sa.String(128), primary_key=True),
    sa.Column(
        "webhook_id",
        sa.String(40),
        _webhook_fk(),
        primary_key=True,
    ),
)

# A number that every change to who is subscribed to what moves on (triggers of
# migration 0005 on webhooks and webhook_events: insert, delete, and updates of
# enabled, filter and mode). Publishing reads it in its transaction and reuses
# the subscriptions it read before while it has not moved (store/events.py).
subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),  # the one row: 1
    sa.Column("version", sa.BigInteger, nullable=False),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), _app_fk(), nullable=False),
    sa.Column("type", sa.String(128), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("timestamp", Time, nullable=False),
    sa.Column("live", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("idempotency_key", sa.String(256)),
    sa.Column("created_at", Time, nullable=False),
    # The publishing span's W3C trace context, JSON (migration 0011; NULL: telemetry off).
    sa.Column("trace_context", sa.Text),
    sa.UniqueConstraint("app_id", "idempotency_key"),
)

# A wide fan-out owed by a published event: the webhooks chosen at publish time
# that have no delivery yet, expanded into deliveries in chunks after the
# publish commits (store/fanouts.py). Committed with the event, so nothing
# acknowledged is lost.
fanouts = sa.Table(
    "fanouts",
    metadata,
    sa.Column(
        "event_id",
        sa.String(40),
        sa.ForeignKey("events.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column("webhooks", sa.Text, nullable=False),  # JSON list of webhook ids still owed
    sa.Column("created_at", Time, nullable=False),  # the publish time, the deliveries' too
    sa.Index("ix_fanouts_created_at", "created_at"),
)

# The predicate of the partial due index, for queries to repeat word for word: a
# query reaches a partial index only when its WHERE visibly implies the index's.
# Bound parameters (`status IN (?, ?)`) hide it from SQLite and from PostgreSQL's
# generic plans (claims scanned and sorted the table: 33 ms at 50k rows, against
# 0.2 ms with the index), and SQLite does not infer it from `status = 'pending'`.
_DUE_STATUSES = "status IN ('pending', 'sending')"  # the index's own words (migration 0003)
DUE = f"deliveries.{_DUE_STATUSES}"
# A webhook's pending deliveries (`?`: its id), in terms that reach the due index.
PENDING_OF_WEBHOOK = f"deliveries.webhook_id = ? AND {DUE} AND deliveries.status = 'pending'"

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column(
        "webhook_id",
        sa.String(40),
        _webhook_fk(),
        nullable=False,
    ),
    sa.Column("event_id", sa.String(40)),  # None for a batch: its events are in batch_events
    sa.Column("kind", sa.String(8), nullable=False, server_default="event"),  # event | batch
    sa.Column("batch_id", sa.String(40)),  # a queued delivery: the batch that carried it
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    # For `pending`: when the next attempt is due. For `sending`: when the lease ends.
    sa.Column("next_attempt_at", Time, nullable=False),
    sa.Column("claim_token", sa.String(40)),
    sa.Column("last_error", sa.Text),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("updated_at", Time, nullable=False),
    # For `sending`: the workers row whose process holds the lease (migration 0009).
    sa.Column("lease_owner", sa.String(40)),
    # A FIFO webhook's delivery: the line it waits in ('' for one line; NULL: no order).
    sa.Column("ordering_key", sa.String(200)),
    # A webhook's due deliveries in order: claims fill each lane (migration 0003),
    # and the pending count reads it (ix_deliveries_due went in 0004).
    sa.Index(
        "ix_deliveries_due_by_webhook",
        "webhook_id",
        "next_attempt_at",
        sqlite_where=sa.text(_DUE_STATUSES),
        postgresql_where=sa.text(_DUE_STATUSES),
    ),
    sa.Index("ix_deliveries_app_id_id", "app_id", "id"),
    sa.Index("ix_deliveries_webhook_id_id", "webhook_id", "id"),
    sa.Index("ix_deliveries_event_id", "event_id"),
    sa.Index(
        "ix_deliveries_fifo",
        "webhook_id",
        "ordering_key",
        "id",
        sqlite_where=sa.text("status IN ('pending', 'sending') AND ordering_key IS NOT NULL"),
        postgresql_where=sa.text("status IN ('pending', 'sending') AND ordering_key IS NOT NULL"),
    ),
    sa.Index(
        "ix_deliveries_lease_owner",
        "lease_owner",
        sqlite_where=sa.text("status = 'sending'"),
        postgresql_where=sa.text("status = 'sending'"),
    ),
    sa.Index(
        "ix_deliveries_queued",
        "webhook_id",
        "created_at",
        sqlite_where=sa.text("status = 'queued'"),
        postgresql_where=sa.text("status = 'queued'"),
    ),
)

# The events a batch delivery carries, in the order they are sent.
batch_events = sa.Table(
    "batch_events",
    metadata,
    sa.Column("batch_id", sa.String(40), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("event_id", sa.String(40), nullable=False),
    sa.Index("ix_batch_events_event_id", "event_id"),
)

# Failures waiting to be e-mailed to a webhook's owners in the next digest.
notifications = sa.Table(
    "notifications",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),  # delivery_failed | webhook_disabled
    sa.Column("delivery_id", sa.String(40)),
    sa.Column("event_id", sa.String(40)),
    sa.Column("event_type", sa.String(128)),
    sa.Column("error", sa.Text),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("sent_at", Time),
    sa.Index(
        "ix_notifications_unsent",
        "webhook_id",
        sqlite_where=sa.text("sent_at IS NULL"),
        postgresql_where=sa.text("sent_at IS NULL"),
    ),
)

attempts = sa.Table(
    "attempts",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("delivery_id", sa.String(40), nullable=False),
    sa.Column("webhook_id", sa.String(40), nullable=False),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("duration_ms", sa.Float, nullable=False),
    sa.Column("request_method", sa.String(8), nullable=False),
    sa.Column("request_url", sa.Text, nullable=False),
    sa.Column("request_headers", sa.Text, nullable=False),
    sa.Column("response_status", sa.Integer),
    sa.Column("response_headers", sa.Text, nullable=False, server_default="{}"),
    sa.Column("response_body", sa.Text, nullable=False, server_default=""),
    sa.Column("error_code", sa.String(40)),
    sa.Column("error_message", sa.Text),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Index("ix_attempts_delivery_id", "delivery_id"),
)

# One row per delivering process: its lease owner id and its last heartbeat (migration
# 0006), and where it runs (0009): a host identity and its pid there.
workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("started_at", Time, nullable=False),
    sa.Column("heartbeat_at", Time, nullable=False),
    sa.Column("host", sa.String(255)),
    sa.Column("pid", sa.Integer),
)

# Instance-wide key/value facts (e.g. that the admin key was generated).
instance = sa.Table(
    "instance",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

# Portal links (console): magic links into one app's console; only the token's hash is kept.
portal_links = sa.Table(
    "portal_links",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("app_id", sa.String(40), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("frame_origin", sa.Text),
    sa.Column("created_by", sa.String(64), nullable=False),
    sa.Column("created_at", Time, nullable=False),
    sa.Column("expires_at", Time, nullable=False),
    sa.Column("revoked_at", Time),
    sa.Index("ix_portal_links_app_id", "app_id"),
)
