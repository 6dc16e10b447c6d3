"""The run log: every accepted run, from ``queued`` to its one final status.

A run is recorded, and its quota spent, in the transaction that accepts it;
its result is written when it finishes.  A run the service failed
(``internal_error``) is not charged.  Runs a crash left unfinished are
finalized as ``internal_error`` at the next start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from execbox.results import RawOutput, RunResult, Status, decode_output
from execbox.store import usage
from execbox.store.models import RunRow

QUEUED = "queued"
OUTPUT_FIELDS = ("stdout", "stderr", "compile_output")
"""Result fields stored as bytes in columns of their own, not in the ``result`` JSON."""
INTERRUPTED_MESSAGE = "The service stopped before this run finished; it was not charged."


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
    )


def record_queued(
    session: Session,
    *,
    run_id: str,
    subject: str,
    user_id: int | None,
    plan: str,
    language: str,
    code: str,
    stdin: str,
    args: Sequence[str],
    now: datetime,
    files: list[dict[str, str]] | None = None,
    api: str = "execbox",
    api_request: dict[str, Any] | None = None,
) -> None:
    session.add(
        RunRow(
            id=run_id,
            subject=subject,
            user_id=user_id,
            plan=plan,
            language=language,
            code=code,
            files=files,
            stdin=stdin,
            args=list(args),
            api=api,
            api_request=api_request,
            status=QUEUED,
            usage_day=usage.day_of(now),
            charged=True,
            created_at=now,
        )
    )


def finish(session: Session, run_id: str, result: RunResult, now: datetime) -> None:
    """Store a run's final result; an ``internal_error`` gives its run back."""
    row = session.get(RunRow, run_id, with_for_update=True)
    if row is None or row.status != QUEUED:
        return
    row.status = result.status.value
    _store_result(row, result)
    row.finished_at = now
    if result.status is Status.INTERNAL_ERROR and row.charged:
        _uncharge(session, row)


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
    """Finalize every unfinished run as ``internal_error`` (call once, at start-up)."""
    rows = session.scalars(select(RunRow).where(RunRow.status == QUEUED).with_for_update()).all()
    for row in rows:
        result = RunResult.internal_error(row.language, INTERRUPTED_MESSAGE)
        row.status = result.status.value
        _store_result(row, result)
        row.finished_at = now
        if row.charged:
            _uncharge(session, row)
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
