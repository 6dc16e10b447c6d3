"""What a queued job carries, and the run a worker executes.

A job carries only JSON (a payload holds data from the internet: never pickle), and
only the run's id and when it was queued: the program, its input and its resolved limits
are read from the run log, where the API node recorded them when it accepted the run.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from execbox.dispatch.base import RunJob
from execbox.errors import ExecboxError
from execbox.limits import Limits
from execbox.program import SourceFile
from execbox.store import RunRecord


class BadPayload(ExecboxError):
    """A queued job that is not one of ours (or a run recorded without its limits)."""


def job_kwargs(run_id: str, submitted_at: float) -> dict[str, Any]:
    return {"run_id": run_id, "submitted_at": submitted_at}


def run_id_of(kwargs: dict[str, Any] | None) -> str:
    run_id = (kwargs or {}).get("run_id")
    if not isinstance(run_id, str) or not run_id.isalnum() or len(run_id) > 64:
        raise BadPayload(f"a queued job without a valid run id: {kwargs!r:.200}")
    return run_id


def job_of(record: RunRecord) -> RunJob:
    """The run as the engine takes it, from the run log."""
    if record.limits is None:
        raise BadPayload(f"run {record.id} has no recorded limits")
    names = {f.name for f in fields(Limits)}
    limits = Limits(**{k: v for k, v in record.limits.items() if k in names})
    files = tuple(SourceFile.text(f["name"], f["content"]) for f in record.files or [])
    return RunJob(
        run_id=record.id,
        language=record.language,
        code=record.code,
        stdin=record.stdin,
        args=tuple(record.args),
        limits=limits,
        files=files,
    )
