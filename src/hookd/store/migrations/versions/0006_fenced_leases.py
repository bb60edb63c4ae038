"""fenced leases: the workers table (owner ids with heartbeats), webhooks.last_error_at

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 19:05:00

Each delivering process keeps one `workers` row, its id and the time of its
last heartbeat, so the leases of a process whose heartbeat is stale can be
taken over. `webhooks.last_error_at` says when `last_error` was last set.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_Time = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("started_at", _Time, nullable=False),
        sa.Column("heartbeat_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )
    op.add_column("webhooks", sa.Column("last_error_at", _Time, nullable=True))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35+): batch mode would copy the table and lose
    # the webhooks triggers of 0005.
    op.execute("ALTER TABLE webhooks DROP COLUMN last_error_at")
    op.drop_table("workers")
