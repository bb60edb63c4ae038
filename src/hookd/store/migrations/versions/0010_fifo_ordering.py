"""fifo ordering: webhooks.ordering and ordering_key, deliveries.ordering_key

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 22:00:00

A FIFO webhook's deliveries carry the key of the line they wait in (`''` when
the webhook has no `ordering_key`; NULL for webhooks without ordering). The
partial index finds each line's head among the unfinished deliveries. A change
of ordering changes who gets what how: the subscriptions' version moves.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_UNFINISHED = sa.text("status IN ('pending', 'sending') AND ordering_key IS NOT NULL")
_MOVE = "UPDATE subscriptions SET version = version + 1 WHERE id = 1"
_COLUMNS = "enabled, filter, mode{more}"
_WHEN = "OLD.enabled {ne} NEW.enabled OR OLD.filter {ne} NEW.filter OR OLD.mode {ne} NEW.mode{more}"
_MORE_COLUMNS = ", ordering, ordering_key"
_MORE_WHEN = " OR OLD.ordering {ne} NEW.ordering OR OLD.ordering_key {ne} NEW.ordering_key"
_FUNCTION = "hookd_subscriptions_moved"


def _trigger(with_ordering: bool) -> None:
    """(Re)create the webhooks update trigger that moves the subscriptions' version."""
    sqlite = op.get_context().dialect.name != "postgresql"
    ne = "IS NOT" if sqlite else "IS DISTINCT FROM"
    columns = _COLUMNS.format(more=_MORE_COLUMNS if with_ordering else "")
    when = _WHEN.format(ne=ne, more=_MORE_WHEN.format(ne=ne) if with_ordering else "")
    if sqlite:
        op.execute("DROP TRIGGER subscriptions_webhooks_update")
        op.execute(
            f"CREATE TRIGGER subscriptions_webhooks_update AFTER UPDATE OF {columns} ON webhooks"
            f" FOR EACH ROW WHEN {when} BEGIN {_MOVE}; END"
        )
    else:
        op.execute("DROP TRIGGER subscriptions_webhooks_update ON webhooks")
        op.execute(
            f"CREATE TRIGGER subscriptions_webhooks_update AFTER UPDATE OF {columns} ON webhooks"
            f" FOR EACH ROW WHEN ({when}) EXECUTE FUNCTION {_FUNCTION}()"
        )


def upgrade() -> None:
    op.add_column(
        "webhooks",
        sa.Column("ordering", sa.String(length=8), nullable=False, server_default="none"),
    )
    op.add_column("webhooks", sa.Column("ordering_key", sa.Text(), nullable=True))
    op.add_column("deliveries", sa.Column("ordering_key", sa.String(length=200), nullable=True))
    op.create_index(
        "ix_deliveries_fifo",
        "deliveries",
        ["webhook_id", "ordering_key", "id"],
        sqlite_where=_UNFINISHED,
        postgresql_where=_UNFINISHED,
    )
    _trigger(with_ordering=True)


def downgrade() -> None:
    _trigger(with_ordering=False)
    op.drop_index("ix_deliveries_fifo", table_name="deliveries")
    # Dropped in place (SQLite 3.35+): batch mode would copy the tables and lose triggers.
    op.execute("ALTER TABLE deliveries DROP COLUMN ordering_key")
    op.execute("ALTER TABLE webhooks DROP COLUMN ordering_key")
    op.execute("ALTER TABLE webhooks DROP COLUMN ordering")
