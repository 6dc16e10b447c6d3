"""The tables: plans, users, the run log and per-day usage counters.

Times are naive UTC (SQLite keeps no zone); a day is a UTC calendar day.
A run's ``subject`` is who owns it: ``user:<id>`` for a user,
``guest:<address>#<guest id>`` for a guest browser.  Usage counts the part before
the last ``#`` (``guest:<address>``): guests share a quota per address, while
each reads only its own runs (:func:`execbox.store.usage.counted_subject`).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class PlanRow(Base):
    __tablename__ = "plans"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    daily_runs: Mapped[int] = mapped_column(Integer)
    max_code_bytes: Mapped[int] = mapped_column(Integer)
    time_limit_s: Mapped[float] = mapped_column(Float)
    memory_limit_mb: Mapped[int] = mapped_column(Integer)
    languages: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    """Language ids the plan may run; ``None`` means every language."""
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    plan: Mapped[str] = mapped_column(ForeignKey("plans.name"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_subject_created", "subject", "created_at"),
        Index("ix_runs_status", "status"),
        Index("ix_runs_created", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    subject: Mapped[str] = mapped_column(String(160))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    plan: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(32))
    code: Mapped[str] = mapped_column(Text)
    """The program's (entry) source."""
    files: Mapped[list[dict[str, str]] | None] = mapped_column(JSON, nullable=True)
    """A multi-file program's files (``[{name, content}]``, the entry first); else ``None``."""
    stdin: Mapped[str] = mapped_column(Text)
    args: Mapped[list[str]] = mapped_column(JSON)
    api: Mapped[str] = mapped_column(String(16), server_default="execbox")
    """The front door the run came through: ``execbox``, ``judge0`` or ``piston``."""
    api_request: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What a compatible API needs to show the run as its clients expect (its own fields)."""
    status: Mapped[str] = mapped_column(String(32))
    """``queued``, ``running`` once a worker began it, then one final status of the contract."""
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The result object without its output, which the three byte columns hold."""
    stdout: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    """The program's output as it wrote it: bytes, so nothing is escaped (see 0002)."""
    stderr: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    compile_output: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    usage_day: Mapped[date] = mapped_column(Date)
    charged: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    """Workers that began the run (scale-out: at most two, see 0005)."""
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    """When a worker first began the run (``None`` until then)."""
    limits: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The run's resolved limits (:class:`execbox.limits.Limits` fields), so that any worker
    can run it from the run log alone (``None`` for runs from before 0005)."""
    created_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class UsageRow(Base):
    __tablename__ = "usage"

    subject: Mapped[str] = mapped_column(String(160), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    runs: Mapped[int] = mapped_column(Integer, default=0)
