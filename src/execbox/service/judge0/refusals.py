"""execbox's refusals as Judge0 shows them: 422 ``{"field": ["message"]}`` for an invalid
submission (named with Judge0's field names), ``{"error": "message"}`` with execbox's
status (and ``Retry-After`` where one applies) for the rest."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from execbox.dispatch import NoCapacity
from execbox.errors import InvalidInput, InvalidLimits, RequestError, UnknownLanguage
from execbox.service.errors import CodeTooLarge, QuotaExceeded, http_status
from execbox.service.judge0.archive import ArchiveTooLarge
from execbox.service.judge0.request import Judge0Invalid, Translated

_FIELD_NAMES = {
    "code": "source_code",
    "language": "language_id",
    "args": "command_line_arguments",
    "timeLimit": "cpu_time_limit",
    "memoryLimit": "memory_limit",
}


def error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    """Judge0's ``{"error": message}`` body."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def refusal(exc: Exception, translated: Translated | None = None) -> JSONResponse:
    """An execbox refusal as Judge0 shows it (``translated``: the submission it refuses,
    once translated, to name the field a file came from)."""
    if isinstance(exc, Judge0Invalid):
        return JSONResponse(exc.errors, status_code=422)
    if isinstance(exc, NoCapacity):
        return error(503, exc.message, exc.retry_after_s)
    if isinstance(exc, QuotaExceeded):
        return error(429, exc.message, exc.retry_after_s)
    if isinstance(exc, ArchiveTooLarge):
        return error(413, f"additional_files {exc.message}")
    if isinstance(exc, InvalidInput | InvalidLimits | UnknownLanguage):
        name = exc.field or "base"
        if name == "files":
            has_extra = translated is not None and translated.had_additional_files
            name = "additional_files" if has_extra else "source_code"
        return JSONResponse({_FIELD_NAMES.get(name, name): [exc.message]}, status_code=422)
    if isinstance(exc, CodeTooLarge):
        return error(413, exc.message)
    assert isinstance(exc, RequestError)
    return error(http_status(exc), exc.message)
