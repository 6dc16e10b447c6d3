"""The API's request and response bodies, with the contract's camelCase names."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Self

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr
from pydantic.alias_generators import to_camel

from execbox.results import RunResult
from execbox.store import Plan, RunRecord


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class FileIn(BaseModel):
    """One file of a multi-file program."""

    model_config = ConfigDict(extra="ignore")

    name: StrictStr = Field(max_length=1024)
    content: StrictStr


class RunRequest(_Wire):
    """``POST /api/editor/run``: strict types, so ``"5"`` is not a time limit.

    A program is ``code`` (one file) or ``files`` (the first is the entry point), not both.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    language: StrictStr = Field(max_length=64)
    code: StrictStr | None = None
    files: list[FileIn] | None = None
    stdin: StrictStr = ""
    args: list[StrictStr] = []
    time_limit: StrictFloat | StrictInt | None = Field(None, description="seconds; may only lower")
    memory_limit: StrictInt | None = Field(None, description="MB; may only lower")
    file_size_limit: StrictInt | None = Field(
        None, description="KB: the largest file the program may write (SIGXFSZ past it)"
    )


class Usage(_Wire):
    plan: str
    runs_today: int
    daily_limit: int
    remaining: int

    @classmethod
    def of(cls, plan: Plan, runs_today: int) -> Usage:
        return cls(
            plan=plan.name,
            runs_today=runs_today,
            daily_limit=plan.daily_runs,
            remaining=max(0, plan.daily_runs - runs_today),
        )


class Output(_Wire):
    stdout: str
    stderr: str
    exit_code: int | None
    signal: str | None


class RunView(_Wire):
    """A finished (or, in the log, still queued) run as the API shows it."""

    run_id: str
    language: str
    version: str | None
    status: str
    message: str | None
    output: Output
    compile_output: str | None
    duration_ms: float
    cpu_time_ms: float
    memory_used: int
    truncated: bool

    @classmethod
    def of(cls, run_id: str, result: RunResult, **more: Any) -> Self:
        """The view of ``result``; ``more``: a subclass's own fields (``usage``)."""
        return cls(
            **more,
            run_id=run_id,
            language=result.language,
            version=result.version,
            status=result.status.value,
            message=result.message,
            output=Output(
                stdout=result.stdout,
                stderr=result.stderr,
                exit_code=result.exit_code,
                signal=result.signal,
            ),
            compile_output=result.compile_output,
            duration_ms=result.duration_ms,
            cpu_time_ms=result.cpu_time_ms,
            memory_used=result.memory_used,
            truncated=result.truncated,
        )


class RunResponse(RunView):
    usage: Usage


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


class RunSummary(_Wire):
    run_id: str
    language: str
    status: str
    created_at: str
    finished_at: str | None
    duration_ms: float | None
    code_preview: str

    @classmethod
    def of(cls, record: RunRecord) -> RunSummary:
        return cls(
            run_id=record.id,
            language=record.language,
            status=record.status,
            created_at=_iso(record.created_at) or "",
            finished_at=_iso(record.finished_at),
            duration_ms=record.result.duration_ms if record.result else None,
            code_preview=record.code[:200],
        )


class RunDetail(RunView):
    """A run in the log; until it is final (``queued``, ``running``) its result fields are
    null."""

    version: str | None
    message: str | None
    output: Output | None  # type: ignore[assignment]
    compile_output: str | None
    duration_ms: float | None  # type: ignore[assignment]
    cpu_time_ms: float | None  # type: ignore[assignment]
    memory_used: int | None  # type: ignore[assignment]
    truncated: bool | None  # type: ignore[assignment]
    code: str
    files: list[FileIn] | None
    stdin: str
    args: list[str]
    created_at: str
    finished_at: str | None
    queue_wait_ms: float | None = Field(
        None, description="from acceptance until a worker began the run; null until then"
    )

    @classmethod
    def of_record(cls, record: RunRecord) -> RunDetail:
        if record.result is not None and record.final:
            view: dict[str, Any] = RunView.of(record.id, record.result).model_dump()
        else:
            view = {
                "run_id": record.id,
                "language": record.language,
                **dict.fromkeys(_RESULT_FIELDS),
            }
        view["status"] = record.status
        return cls(
            **view,
            code=record.code,
            files=[FileIn(name=f["name"], content=f["content"]) for f in record.files]
            if record.files is not None
            else None,
            stdin=record.stdin,
            args=list(record.args),
            created_at=_iso(record.created_at) or "",
            finished_at=_iso(record.finished_at),
            queue_wait_ms=(
                round((record.started_at - record.created_at).total_seconds() * 1000, 3)
                if record.started_at is not None
                else None
            ),
        )


_RESULT_FIELDS = (
    "version",
    "message",
    "output",
    "compile_output",
    "duration_ms",
    "cpu_time_ms",
    "memory_used",
    "truncated",
)


class Queued(_Wire):
    """``POST /api/runs``: the run is accepted and queued (202)."""

    run_id: str
    status: str = "queued"
    usage: Usage


class LanguageInfo(_Wire):
    id: str
    name: str
    version: str | None
    aliases: list[str]
    extensions: list[str] = []
    starter: str = Field("", description="a small program the editor starts from")
    highlight: str = Field(
        "", description="the editor's grammar for the language (plain text if empty)"
    )
    source_file: str = Field(
        "", description="the name the entry file (a program's first file) runs as, e.g. Main.java"
    )


ErrorCode = Annotated[str, Field(description="a slug such as quota_exceeded")]


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str


class ErrorBody(BaseModel):
    error: ErrorDetail
