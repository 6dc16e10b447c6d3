"""A run request's program and text inputs, checked (shared by every front door)."""

from __future__ import annotations

from execbox.errors import InvalidInput, RequestError
from execbox.program import SourceFile, check_names
from execbox.service.schemas import RunRequest


def program_of(request: RunRequest) -> list[SourceFile]:
    """The request's program as files (``code`` is one file); its text and names checked."""
    if request.files is None:
        if request.code is None:  # a missing field, as pydantic would say it (invalid_request)
            raise RequestError(
                "The field 'code' is required (or 'files': [{name, content}, ...]).",
                field="code",
            )
        check_text("code", request.code)
        return [SourceFile.text("", request.code)]
    if request.code is not None:
        raise InvalidInput("Send either 'code' or 'files', not both.", field="files")
    check_names([f.name for f in request.files])
    for f in request.files:
        check_text("files", f.content)
    return [SourceFile.text(f.name, f.content) for f in request.files]


def check_text(field: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters.", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} must be valid Unicode text.", field=field) from None
