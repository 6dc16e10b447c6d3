"""Forgetting old runs, as far as the operator's retention settings say.

Two rules, either or both: finished runs older than ``max_age_days`` go, and past
``max_runs`` runs in the log the oldest finished ones go.  A run still ``queued``
is never deleted: it is about to be finished, and perhaps refunded.  Quotas are
counted in the usage table, not by counting runs, so a deleted run still counts
against its day; usage rows themselves go only when their day is older than the
age rule (a day that old is never asked about).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.orm import Session

from execbox.store.models import RunRow, UsageRow
from execbox.store.runs import UNFINISHED


@dataclass(frozen=True)
class Retention:
    max_age_days: int | None = None
    """Finished runs created more than this many days ago are deleted."""
    max_runs: int | None = None
    """The log keeps at most this many runs (queued ones are never deleted)."""

    @property
    def keeps_everything(self) -> bool:
        return self.max_age_days is None and self.max_runs is None


@dataclass(frozen=True)
class Pruned:
    runs: int = 0
    usage_days: int = 0


def prune(session: Session, now: datetime, retention: Retention) -> Pruned:
    """Delete what ``retention`` no longer keeps; how many runs and usage rows went."""
    runs = usage_days = 0
    if retention.max_age_days is not None:
        cutoff = now - timedelta(days=retention.max_age_days)
        runs += _delete_runs(session, RunRow.created_at < cutoff)
        gone = session.execute(delete(UsageRow).where(UsageRow.day < cutoff.date()))
        usage_days = int(gone.rowcount)  # type: ignore[attr-defined]
    if retention.max_runs is not None:
        # the newest run that is kept, and everything older than it goes
        last_kept = session.execute(
            select(RunRow.created_at, RunRow.id)
            .order_by(RunRow.created_at.desc(), RunRow.id.desc())
            .offset(retention.max_runs - 1)
            .limit(1)
        ).first()
        if last_kept is not None:
            created, run_id = last_kept
            older = or_(
                RunRow.created_at < created, and_(RunRow.created_at == created, RunRow.id < run_id)
            )
            runs += _delete_runs(session, older)
    return Pruned(runs=runs, usage_days=usage_days)


def _delete_runs(session: Session, condition: object) -> int:
    done = session.execute(
        delete(RunRow).where(condition, RunRow.status.not_in(UNFINISHED))  # type: ignore[arg-type]
    )
    return int(done.rowcount)  # type: ignore[attr-defined]
