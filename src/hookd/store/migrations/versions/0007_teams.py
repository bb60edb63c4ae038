"""teams: organizations, users, members of orgs and apps, user tokens, the audit log

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 17:30:00

Every app belongs to one organization; apps that exist move to the default
organization made here. API keys gain a role (`owner` for the keys that
exist, so they keep doing what they did) and may belong to a user instead of
an app (a user's token).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

DEFAULT_ORG_ID = "org_" + "0" * 26
_Time = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "orgs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orgs")),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("admin", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _Time, nullable=False),
        sa.Column("updated_at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )
    for table, parent in (("org_members", "orgs"), ("app_members", "apps")):
        owner = parent[:-1] + "_id"
        op.create_table(
            table,
            sa.Column(owner, sa.String(length=40), nullable=False),
            sa.Column("user_id", sa.String(length=40), nullable=False),
            sa.Column("role", sa.String(length=16), nullable=False),
            sa.Column("created_at", _Time, nullable=False),
            sa.ForeignKeyConstraint(
                [owner], [f"{parent}.id"], name=op.f(f"fk_{table}_{owner}"), ondelete="CASCADE"
            ),
            sa.ForeignKeyConstraint(
                ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id"), ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint(owner, "user_id", name=op.f(f"pk_{table}")),
        )
        op.create_index(f"ix_{table}_user_id", table, ["user_id"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("app_id", sa.String(length=40), nullable=True),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=80), nullable=False),
        sa.Column("changed", sa.Text(), server_default="[]", nullable=False),
        sa.Column("at", _Time, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index("ix_audit_log_org_id_id", "audit_log", ["org_id", "id"], unique=False)
    op.execute(
        sa.text("INSERT INTO orgs (id, name, created_at) VALUES (:id, 'Default', 0)").bindparams(
            id=DEFAULT_ORG_ID
        )
    )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("org_id", sa.String(length=40), nullable=False, server_default=DEFAULT_ORG_ID)
        )
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.alter_column("org_id", server_default=None)
        batch_op.create_index(batch_op.f("ix_apps_org_id"), ["org_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_apps_org_id"), "orgs", ["org_id"], ["id"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("role", sa.String(length=16), server_default="owner", nullable=False)
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id"), "users", ["user_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    # User tokens have no app: they cannot outlive the users table.
    op.execute("DELETE FROM api_keys WHERE user_id IS NOT NULL")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id"), type_="foreignkey")
        batch_op.drop_column("role")
        batch_op.drop_column("user_id")
    with op.batch_alter_table("apps", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_apps_org_id"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_apps_org_id"))
        batch_op.drop_column("org_id")
    op.drop_index("ix_audit_log_org_id_id", table_name="audit_log")
    op.drop_table("audit_log")
    for table in ("app_members", "org_members"):
        op.drop_index(f"ix_{table}_user_id", table_name=table)
        op.drop_table(table)
    op.drop_table("users")
    op.drop_table("orgs")
