"""workspaces, members, sessions, one-time links and the audit log; what is built belongs
to a workspace (existing rows move to each organisation's default workspace)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08 01:00:00
"""

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OWNED = ("users", "authentications", "subscriptions", "workflows")


def _seq() -> sa.Column:
    return sa.Column("seq", SEQ, autoincrement=True, nullable=False)


def _ts(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "workspaces",
        _seq(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_workspaces_org_id", "workspaces", ["org_id"])
    op.create_table(
        "members",
        _seq(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("org_role", sa.String(length=16), nullable=False),
        sa.Column("account_type", sa.String(length=32), nullable=False),
        sa.Column("password_hash", sa.Text(), nullable=True),
        sa.Column("failed_sign_ins", sa.Integer(), nullable=False),
        _ts("locked_until", True),
        _ts("last_sign_in_at", True),
        _ts("created_at"),
        _ts("updated_at"),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("org_id", "email"),
    )
    op.create_index("ix_members_org_id", "members", ["org_id"])
    op.create_table(
        "workspace_members",
        _seq(),
        sa.Column("workspace_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        _ts("created_at"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("workspace_id", "member_id"),
    )
    op.create_index("ix_workspace_members_member_id", "workspace_members", ["member_id"])
    op.create_table(
        "member_sessions",
        _seq(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("member_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=500), nullable=True),
        _ts("created_at"),
        _ts("last_seen_at"),
        _ts("expires_at"),
        _ts("revoked_at", True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_member_sessions_member_id", "member_sessions", ["member_id"])
    op.create_index("ix_member_sessions_expires_at", "member_sessions", ["expires_at"])
    op.create_table(
        "one_time_links",
        _seq(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("member_id", sa.String(length=36), nullable=True),
        sa.Column("org_role", sa.String(length=16), nullable=True),
        sa.Column("created_by", sa.String(length=36), nullable=True),
        _ts("created_at"),
        _ts("expires_at"),
        _ts("used_at", True),
        sa.ForeignKeyConstraint(["org_id"], ["orgs.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["member_id"], ["members.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_one_time_links_org_id", "one_time_links", ["org_id"])
    op.create_table(
        "audit_events",
        _seq(),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=36), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("action", sa.String(length=200), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=True),
        sa.Column("resource_id", sa.String(length=255), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    op.create_index("ix_audit_events_org", "audit_events", ["org_id", "seq"])
    op.create_index("ix_audit_events_created_at", "audit_events", ["created_at"])

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("workspace_id", sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column("member_id", sa.String(length=36), nullable=True))
        batch_op.create_index("ix_api_tokens_workspace_id", ["workspace_id"])
        batch_op.create_index("ix_api_tokens_member_id", ["member_id"])
        batch_op.create_foreign_key(
            "fk_api_tokens_workspace_id",
            "workspaces",
            ["workspace_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_foreign_key(
            "fk_api_tokens_member_id", "members", ["member_id"], ["id"], ondelete="CASCADE"
        )

    for table in (*OWNED, "oauth_states"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("workspace_id", sa.String(length=36), nullable=True))

    # Every organisation gets its default workspace, which receives what exists.
    conn = op.get_bind()
    workspaces = sa.table(
        "workspaces",
        sa.column("id", sa.String),
        sa.column("org_id", sa.String),
        sa.column("name", sa.String),
        sa.column("type", sa.String),
        sa.column("is_default", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    if conn.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # the models store UTC wall time on SQLite
    for (org_id,) in conn.execute(sa.text("SELECT id FROM orgs ORDER BY seq")).all():
        workspace_id = str(uuid.uuid4())
        conn.execute(
            workspaces.insert().values(
                id=workspace_id,
                org_id=org_id,
                name="Default",
                type="Organization",
                is_default=True,
                created_at=now,
            )
        )
        for table in (*OWNED, "oauth_states"):
            conn.execute(
                sa.text(f"UPDATE {table} SET workspace_id = :w WHERE org_id = :o"),
                {"w": workspace_id, "o": org_id},
            )

    for table in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("workspace_id", existing_type=sa.String(36), nullable=False)
            batch_op.create_index(f"ix_{table}_workspace_id", ["workspace_id"])
            batch_op.create_foreign_key(
                f"fk_{table}_workspace_id",
                "workspaces",
                ["workspace_id"],
                ["id"],
                ondelete="CASCADE",
            )


def downgrade() -> None:
    with op.batch_alter_table("oauth_states", schema=None) as batch_op:
        batch_op.drop_column("workspace_id")
    for table in OWNED:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(f"fk_{table}_workspace_id", type_="foreignkey")
            batch_op.drop_index(f"ix_{table}_workspace_id")
            batch_op.drop_column("workspace_id")
    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_constraint("fk_api_tokens_member_id", type_="foreignkey")
        batch_op.drop_constraint("fk_api_tokens_workspace_id", type_="foreignkey")
        batch_op.drop_index("ix_api_tokens_member_id")
        batch_op.drop_index("ix_api_tokens_workspace_id")
        batch_op.drop_column("member_id")
        batch_op.drop_column("workspace_id")
    for table in (
        "audit_events",
        "one_time_links",
        "member_sessions",
        "workspace_members",
        "members",
        "workspaces",
    ):
        op.drop_table(table)
