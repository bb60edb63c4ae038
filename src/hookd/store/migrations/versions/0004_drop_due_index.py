"""drop ix_deliveries_due: claims and counts use ix_deliveries_due_by_webhook

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 14:05:00

Since 0003 claims find due work through ix_deliveries_due_by_webhook, and the
pending count is answered from that index too (same partial predicate). The
older index only cost upkeep: every publish inserted into it and every claim
and outcome moved or removed an entry.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DUE = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_due", sqlite_where=_DUE, postgresql_where=_DUE)


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_due",
            ["next_attempt_at"],
            unique=False,
            sqlite_where=_DUE,
            postgresql_where=_DUE,
        )
