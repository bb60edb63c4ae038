"""lane claims: due deliveries by webhook

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 08:20:00

Claims take each webhook's due deliveries up to the room its lane has (see
DeliveryRepository.claim), which needs the due rows of one webhook in order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_DUE = sa.text("status IN ('pending', 'sending')")


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_deliveries_due_by_webhook",
            ["webhook_id", "next_attempt_at"],
            unique=False,
            sqlite_where=_DUE,
            postgresql_where=_DUE,
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_due_by_webhook", sqlite_where=_DUE, postgresql_where=_DUE
        )
