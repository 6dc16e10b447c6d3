"""The run log: every accepted run, from ``queued`` to its one final status.

A run is recorded, and its quota spent, in the transaction that accepts it;
its result is written when it finishes.  A run the service failed
(``internal_error``) is not charged.  Embedded (``execbox serve``), runs a crash left
unfinished are finalized as ``internal_error`` at the next start; scaled out, a worker
marks a run ``running`` as it begins an attempt (:func:`begin_attempt`), a run whose
worker was lost is begun once more, and one lost twice ends ``internal_error``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from execbox.results import RawOutput, RunResult, Status, decode_output
from execbox.store import usage
from execbox.store.models import RunRow

QUEUED = "queued"
RUNNING = "running"
UNFINISHED = (QUEUED, RUNNING)
"""A run in the log with one of these is not final yet."""
MAX_ATTEMPTS = 2
"""Workers that may begin one run (the contract's "at most two attempts")."""
OUTPUT_FIELDS = ("stdout", "stderr", "compile_output")
"""Result fields stored as bytes in columns of their own, not in the ``result`` JSON."""
INTERRUPTED_MESSAGE = "The service stopped before this run finished; it was not charged."
LOST_TWICE_MESSAGE = (
    "The run was lost twice: the worker running it stopped during both of its two attempts "
    "(it is not tried a third time); it was not charged."
)


@dataclass(frozen=True)
class RunRecord:
    id: str
    subject: str
    plan: str
    language: str
    code: str
    stdin: str
    args: tuple[str, ...]
    status: str
    result: RunResult | None
    created_at: datetime
    finished_at: datetime | None
    files: list[dict[str, str]] | None = None
    api: str = "execbox"
    api_request: dict[str, Any] | None = None
    attempts: int = 0
    started_at: datetime | None = None
    limits: dict[str, Any] | None = None

    @property
    def final(self) -> bool:
        return self.status not in UNFINISHED


def _load_result(row: RunRow) -> RunResult | None:
    if row.result is None:
        return None
    raw = RawOutput(row.stdout or b"", row.stderr or b"", row.compile_output)
    output = {
        "stdout": decode_output(raw.stdout),
        "stderr": decode_output(raw.stderr),
        "compile_output": (
            decode_output(raw.compile_output) if raw.compile_output is not None else None
        ),
    }
    return RunResult.model_validate({**row.result, **output, "raw": raw})


def _store_result(row: RunRow, result: RunResult) -> None:
    """The output as bytes in its own columns, the rest as JSON: nothing is escaped, so
    1 MiB of output costs 1 MiB whatever bytes it holds (JSON text cost up to 6)."""
    raw = result.output_bytes()
    row.result = result.model_dump(mode="json", exclude=set(OUTPUT_FIELDS))
    row.stdout = raw.stdout
    row.stderr = raw.stderr
    row.compile_output = raw.compile_output


def _to_record(row: RunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        subject=row.subject,
        plan=row.plan,
        language=row.language,
        code=row.code,
        stdin=row.stdin,
        args=tuple(row.args),
        status=row.status,
        result=_load_result(row),
        created_at=row.created_at,
        finished_at=row.finished_at,
        files=row.files,
        api=row.api,
        api_request=row.api_request,
        attempts=row.attempts or 0,
        started_at=row.started_at,
        limits=row.limits,
    )


def finish(
    session: Session,
    run_id: str,
    result: RunResult,
    now: datetime,
    *,
    queue_wait_s: float | None = None,
) -> bool:
    """Store a run's final result; an ``internal_error`` gives its run back.  The first
    final result wins: ``False`` (nothing written) when the run is already final.
    ``queue_wait_s``: how long it waited to begin, if no worker recorded when it began
    (the embedded pool)."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None or row.status not in UNFINISHED:
        return False
    if row.started_at is None and queue_wait_s is not None:
        row.started_at = row.created_at + timedelta(seconds=max(0.0, queue_wait_s))
    _finalize(session, row, result, now)
    return True


def _finalize(session: Session, row: RunRow, result: RunResult, now: datetime) -> None:
    row.status = result.status.value
    _store_result(row, result)
    row.finished_at = now
    if result.status is Status.INTERNAL_ERROR and row.charged:
        _uncharge(session, row)


class Attempt(enum.Enum):
    """What :func:`begin_attempt` decided."""

    BEGUN = "begun"
    """The run is ``running``: execute it."""
    FINAL = "final"
    """The run is already final (another attempt stored it): do nothing."""
    LOST_TWICE = "lost_twice"
    """Two attempts were already begun and lost: the run is now final, ``internal_error``."""
    MISSING = "missing"
    """No such run (withdrawn, or pruned from the log)."""


def begin_attempt(session: Session, run_id: str, now: datetime) -> tuple[Attempt, RunRecord | None]:
    """A worker takes ``run_id``: count the attempt and mark it ``running``, unless it is
    final already or has had its :data:`MAX_ATTEMPTS` (then it ends ``internal_error``).
    With ``BEGUN``, the run as recorded (what to execute)."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None:
        return Attempt.MISSING, None
    if row.status not in UNFINISHED:
        return Attempt.FINAL, None
    if (row.attempts or 0) >= MAX_ATTEMPTS:
        _finalize(session, row, RunResult.internal_error(row.language, LOST_TWICE_MESSAGE), now)
        return Attempt.LOST_TWICE, None
    row.attempts = (row.attempts or 0) + 1
    row.status = RUNNING
    if row.started_at is None:
        row.started_at = now
    return Attempt.BEGUN, _to_record(row)


def unfinished_before(session: Session, before: datetime, limit: int) -> list[str]:
    """Ids of runs accepted before ``before`` and not final yet, oldest first."""
    return list(
        session.scalars(
            select(RunRow.id)
            .where(RunRow.status.in_(UNFINISHED), RunRow.created_at < before)
            .order_by(RunRow.created_at)
            .limit(limit)
        )
    )


def _uncharge(session: Session, row: RunRow) -> None:
    row.charged = False
    usage.refund(session, usage.counted_subject(row.subject), row.usage_day)


def withdraw(session: Session, run_id: str) -> None:
    """Forget an accepted run that was never started (no capacity after all)."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None or row.status != QUEUED:
        return
    if row.charged:
        _uncharge(session, row)
    session.delete(row)


def recover_interrupted(session: Session, now: datetime) -> int:
    """Finalize every unfinished run as ``internal_error``: the embedded server at start-up,
    which alone runs the runs of its database (never with workers: they recover by lease)."""
    rows = session.scalars(
        select(RunRow).where(RunRow.status.in_(UNFINISHED)).with_for_update()
    ).all()
    for row in rows:
        _finalize(session, row, RunResult.internal_error(row.language, INTERRUPTED_MESSAGE), now)
    return len(rows)


def get(session: Session, owner: str, run_id: str) -> RunRecord | None:
    """One of ``owner``'s runs; ``None`` for another's, so nobody learns it exists."""
    row = session.get(RunRow, run_id)
    if row is None or row.subject != owner:
        return None
    return _to_record(row)


def by_id(session: Session, run_id: str) -> RunRecord | None:
    """A run by id, whoever it belongs to (the caller decides who may see it)."""
    row = session.get(RunRow, run_id)
    return _to_record(row) if row is not None else None


def recent(session: Session, owner: str, limit: int) -> list[RunRecord]:
    rows = session.scalars(
        select(RunRow)
        .where(RunRow.subject == owner)
        .order_by(RunRow.created_at.desc(), RunRow.id.desc())
        .limit(limit)
    )
    return [_to_record(row) for row in rows]
