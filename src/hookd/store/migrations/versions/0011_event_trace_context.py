"""event trace context: events.trace_context

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 22:30:00

With OpenTelemetry on, an event is stored with the W3C trace context of the
span that published it (JSON: `{"traceparent": …, "tracestate": …}`), so the
process that delivers it later parents its attempt spans on it and sends the
`traceparent` on (docs/observability.md). NULL: published with telemetry off.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("events", sa.Column("trace_context", sa.Text(), nullable=True))


def downgrade() -> None:
    # Dropped in place (SQLite 3.35+): batch mode would copy the table and lose triggers.
    op.execute("ALTER TABLE events DROP COLUMN trace_context")
