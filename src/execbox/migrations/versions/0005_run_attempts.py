"""Scale-out: a run's attempts, when a worker first took it, and its resolved limits.

``attempts`` counts the workers that began the run (at most two: a run lost twice
ends ``internal_error``); ``started_at`` is when the first began it (queue wait is
``started_at - created_at``); ``limits`` lets any worker run it from the run log alone
(the queued job carries only its id).  ``status`` gains ``running`` between ``queued`` and the
final statuses.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("started_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("limits", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("limits")
        batch.drop_column("started_at")
        batch.drop_column("attempts")
