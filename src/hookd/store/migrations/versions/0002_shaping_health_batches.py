"""shaping health batches

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 05:05:18.863513
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "batch_events",
        sa.Column("batch_id", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", "position", name=op.f("pk_batch_events")),
    )
    with op.batch_alter_table("batch_events", schema=None) as batch_op:
        batch_op.create_index("ix_batch_events_event_id", ["event_id"], unique=False)

    op.create_table(
        "notifications",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.Column("event_id", sa.String(length=40), nullable=True),
        sa.Column("event_type", sa.String(length=128), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(precision=53), nullable=False),
        sa.Column("sent_at", sa.Float(precision=53), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_unsent",
            ["webhook_id"],
            unique=False,
            sqlite_where=sa.text("sent_at IS NULL"),
            postgresql_where=sa.text("sent_at IS NULL"),
        )

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=8), server_default="event", nullable=False)
        )
        batch_op.add_column(sa.Column("batch_id", sa.String(length=40), nullable=True))
        batch_op.alter_column("event_id", existing_type=sa.VARCHAR(length=40), nullable=True)
        batch_op.create_index(
            "ix_deliveries_queued",
            ["webhook_id", "created_at"],
            unique=False,
            sqlite_where=sa.text("status = 'queued'"),
            postgresql_where=sa.text("status = 'queued'"),
        )

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("signing", sa.Text(), server_default='["standard"]', nullable=False)
        )
        batch_op.add_column(
            sa.Column("secret_headers", sa.Text(), server_default="[]", nullable=False)
        )
        batch_op.add_column(
            sa.Column("old_secrets", sa.Text(), server_default="[]", nullable=False)
        )
        batch_op.add_column(sa.Column("disable_after_failures", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("disable_after_seconds", sa.Float(precision=53), nullable=True)
        )
        batch_op.add_column(sa.Column("failing_since", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("last_success_at", sa.Float(precision=53), nullable=True))
        batch_op.add_column(
            sa.Column("max_in_flight", sa.Integer(), server_default="10", nullable=False)
        )
        batch_op.add_column(sa.Column("rate_limit", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("circuit_open_until", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("mail_sent_at", sa.Float(precision=53), nullable=True))
        batch_op.add_column(
            sa.Column("mode", sa.String(length=16), server_default="immediate", nullable=False)
        )
        batch_op.add_column(
            sa.Column(
                "batch_order", sa.String(length=16), server_default="chronological", nullable=False
            )
        )
        batch_op.add_column(
            sa.Column("batch_max_events", sa.Integer(), server_default="100", nullable=False)
        )
        batch_op.add_column(sa.Column("batch_interval", sa.Float(precision=53), nullable=True))
        batch_op.add_column(sa.Column("next_flush_at", sa.Float(precision=53), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.drop_column("next_flush_at")
        batch_op.drop_column("batch_interval")
        batch_op.drop_column("batch_max_events")
        batch_op.drop_column("batch_order")
        batch_op.drop_column("mode")
        batch_op.drop_column("mail_sent_at")
        batch_op.drop_column("circuit_open_until")
        batch_op.drop_column("rate_limit")
        batch_op.drop_column("max_in_flight")
        batch_op.drop_column("last_success_at")
        batch_op.drop_column("failing_since")
        batch_op.drop_column("disable_after_seconds")
        batch_op.drop_column("disable_after_failures")
        batch_op.drop_column("old_secrets")
        batch_op.drop_column("secret_headers")
        batch_op.drop_column("signing")

    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_deliveries_queued",
            sqlite_where=sa.text("status = 'queued'"),
            postgresql_where=sa.text("status = 'queued'"),
        )
        batch_op.alter_column("event_id", existing_type=sa.VARCHAR(length=40), nullable=False)
        batch_op.drop_column("batch_id")
        batch_op.drop_column("kind")

    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_notifications_unsent",
            sqlite_where=sa.text("sent_at IS NULL"),
            postgresql_where=sa.text("sent_at IS NULL"),
        )

    op.drop_table("notifications")
    with op.batch_alter_table("batch_events", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_events_event_id")

    op.drop_table("batch_events")
