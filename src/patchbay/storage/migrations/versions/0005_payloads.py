"""payloads stored by reference, and their chunks

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payloads",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("run_id", sa.String(length=36), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("encoding", sa.String(length=16), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    with op.batch_alter_table("payloads", schema=None) as batch_op:
        batch_op.create_index("ix_payloads_run", ["run_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_payloads_org_id"), ["org_id"], unique=False)
    op.create_table(
        "payload_chunks",
        sa.Column("payload_id", sa.String(length=36), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["payload_id"], ["payloads.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("payload_id", "n"),
    )


def downgrade() -> None:
    op.drop_table("payload_chunks")
    with op.batch_alter_table("payloads", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payloads_org_id"))
        batch_op.drop_index("ix_payloads_run")
    op.drop_table("payloads")
