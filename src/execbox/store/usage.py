"""Runs per subject per UTC day, spent transactionally.

Spending is one conditional ``UPDATE ... SET runs = runs + 1 WHERE runs < limit``
after an insert-if-missing: the database serializes the two racers on the row
(PostgreSQL's row lock, SQLite's write lock), so the last run goes to one of them.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from execbox.store.models import UsageRow

OWNER_MARK = "#"


def owner_of(subject: str, guest_id: str) -> str:
    """The owner of a guest's runs: its counted subject and its browser's guest id."""
    return f"{subject}{OWNER_MARK}{guest_id}"


def counted_subject(owner: str) -> str:
    """Whom a run of ``owner`` is counted against (the owner itself for a user)."""
    head, mark, _ = owner.rpartition(OWNER_MARK)
    return head if mark else owner


def day_of(now: datetime) -> date:
    return now.date()


def seconds_to_next_day(now: datetime) -> int:
    """Whole seconds (at least 1) until the next UTC midnight, for ``Retry-After``."""
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time())
    return max(1, int((midnight - now).total_seconds() + 0.999))


def runs_on(session: Session, subject: str, day: date) -> int:
    count = session.scalar(
        select(UsageRow.runs).where(UsageRow.subject == subject, UsageRow.day == day)
    )
    return count or 0


def try_spend(session: Session, subject: str, day: date, limit: int) -> bool:
    """Take one run of ``limit`` for ``subject`` on ``day``; False if none is left."""
    if limit <= 0:
        return False
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(UsageRow)
        .values(subject=subject, day=day, runs=0)
        .on_conflict_do_nothing(index_elements=["subject", "day"])
    )
    done = session.execute(
        update(UsageRow)
        .where(UsageRow.subject == subject, UsageRow.day == day, UsageRow.runs < limit)
        .values(runs=UsageRow.runs + 1)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


def refund(session: Session, subject: str, day: date) -> None:
    """Give back one run (a run the service, not the program, failed)."""
    session.execute(
        update(UsageRow)
        .where(UsageRow.subject == subject, UsageRow.day == day, UsageRow.runs > 0)
        .values(runs=UsageRow.runs - 1)
    )
