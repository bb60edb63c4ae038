"""lease owners: which process holds a `sending` delivery, and where that process runs

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 21:30:00

`deliveries.lease_owner` names the `workers` row whose process holds the
lease; a partial index over `sending` rows finds a dead owner's leases at once.
`workers.host` and `workers.pid` let a process on the same host tell that
another one is gone (its pid no longer runs) without waiting for its heartbeat
to go stale.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SENDING = sa.text("status = 'sending'")


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("lease_owner", sa.String(length=40), nullable=True))
    op.create_index(
        "ix_deliveries_lease_owner",
        "deliveries",
        ["lease_owner"],
        sqlite_where=_SENDING,
        postgresql_where=_SENDING,
    )
    op.add_column("workers", sa.Column("host", sa.String(length=255), nullable=True))
    op.add_column("workers", sa.Column("pid", sa.Integer(), nullable=True))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35+): batch mode would copy the tables and lose triggers.
    op.drop_index("ix_deliveries_lease_owner", table_name="deliveries")
    op.execute("ALTER TABLE workers DROP COLUMN pid")
    op.execute("ALTER TABLE workers DROP COLUMN host")
    op.execute("ALTER TABLE deliveries DROP COLUMN lease_owner")
