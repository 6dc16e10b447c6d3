"""Plans, users, the run log and usage counters.

Revision ID: 0001
Revises:
Create Date: 2024-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("daily_runs", sa.Integer, nullable=False),
        sa.Column("max_code_bytes", sa.Integer, nullable=False),
        sa.Column("time_limit_s", sa.Float, nullable=False),
        sa.Column("memory_limit_mb", sa.Integer, nullable=False),
        sa.Column("languages", sa.JSON, nullable=True),
        sa.Column("updated_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("plan", sa.String(64), sa.ForeignKey("plans.name"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("disabled", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("subject", sa.String(160), nullable=False),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=True),
        sa.Column("plan", sa.String(64), nullable=False),
        sa.Column("language", sa.String(32), nullable=False),
        sa.Column("code", sa.Text, nullable=False),
        sa.Column("stdin", sa.Text, nullable=False),
        sa.Column("args", sa.JSON, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("result", sa.JSON, nullable=True),
        sa.Column("usage_day", sa.Date, nullable=False),
        sa.Column("charged", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime, nullable=True),
    )
    op.create_index("ix_runs_subject_created", "runs", ["subject", "created_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "usage",
        sa.Column("subject", sa.String(160), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("runs", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage")
    op.drop_index("ix_runs_status", "runs")
    op.drop_index("ix_runs_subject_created", "runs")
    op.drop_table("runs")
    op.drop_table("users")
    op.drop_table("plans")
