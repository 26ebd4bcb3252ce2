"""an index for taking queued runs oldest first without sorting the backlog

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 05:40:00
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.create_index("ix_workflow_runs_queue", ["status", "seq"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_workflow_runs_queue")
