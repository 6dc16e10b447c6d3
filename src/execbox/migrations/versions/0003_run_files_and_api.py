"""The run log keeps a multi-file program's files and the API a run came through.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("files", sa.JSON, nullable=True))
        batch.add_column(sa.Column("api", sa.String(16), nullable=False, server_default="execbox"))
        batch.add_column(sa.Column("api_request", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("api_request")
        batch.drop_column("api")
        batch.drop_column("files")
