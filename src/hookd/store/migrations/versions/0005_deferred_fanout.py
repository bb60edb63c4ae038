"""deferred fan-out: fanouts, and a version of the subscriptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

A publish that owes an event to many webhooks commits the event with one
`fanouts` row (the webhooks still owed) instead of all its deliveries; they are
made in chunks after the commit (store/fanouts.py). Publishing reads who is
subscribed from a per-process copy while `subscriptions.version` has not moved;
the triggers below move it whenever a webhook is created or deleted, changes its
enabled, filter or mode, or its event list (webhook_events) changes, in the
same transaction as the change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_MOVE = "UPDATE subscriptions SET version = version + 1 WHERE id = 1"
# Updates that change who gets an event; the others (health, flush times) do not.
_WHEN = "OLD.enabled {ne} NEW.enabled OR OLD.filter {ne} NEW.filter OR OLD.mode {ne} NEW.mode"

_SQLITE_TRIGGERS = {
    "subscriptions_webhooks_insert": "AFTER INSERT ON webhooks",
    "subscriptions_webhooks_delete": "AFTER DELETE ON webhooks",
    "subscriptions_webhooks_update": "AFTER UPDATE OF enabled, filter, mode ON webhooks"
    f" FOR EACH ROW WHEN {_WHEN.format(ne='IS NOT')}",
    "subscriptions_webhook_events_insert": "AFTER INSERT ON webhook_events",
    "subscriptions_webhook_events_delete": "AFTER DELETE ON webhook_events",
}

_PG_TRIGGERS = {
    "subscriptions_webhooks_write": "AFTER INSERT OR DELETE ON webhooks FOR EACH STATEMENT",
    "subscriptions_webhooks_update": "AFTER UPDATE OF enabled, filter, mode ON webhooks"
    f" FOR EACH ROW WHEN ({_WHEN.format(ne='IS DISTINCT FROM')})",
    "subscriptions_webhook_events_write": "AFTER INSERT OR DELETE ON webhook_events"
    " FOR EACH STATEMENT",
}
_PG_FUNCTION = "hookd_subscriptions_moved"


def upgrade() -> None:
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriptions")),
    )
    op.execute("INSERT INTO subscriptions (id, version) VALUES (1, 0)")
    op.create_table(
        "fanouts",
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("webhooks", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"], ["events.id"], name=op.f("fk_fanouts_event_id"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_fanouts")),
    )
    with op.batch_alter_table("fanouts", schema=None) as batch_op:
        batch_op.create_index("ix_fanouts_created_at", ["created_at"], unique=False)
    if op.get_context().dialect.name == "postgresql":
        op.execute(
            f"CREATE FUNCTION {_PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS"
            f" $$ BEGIN {_MOVE}; RETURN NULL; END $$"
        )
        for name, when in _PG_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} EXECUTE FUNCTION {_PG_FUNCTION}()")
    else:
        for name, when in _SQLITE_TRIGGERS.items():
            op.execute(f"CREATE TRIGGER {name} {when} BEGIN {_MOVE}; END")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute(f"DROP FUNCTION {_PG_FUNCTION}() CASCADE")  # and its triggers
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    with op.batch_alter_table("fanouts", schema=None) as batch_op:
        batch_op.drop_index("ix_fanouts_created_at")
    op.drop_table("fanouts")
    op.drop_table("subscriptions")
