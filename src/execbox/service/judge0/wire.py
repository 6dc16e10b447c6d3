"""Judge0 CE 1.13.1's submission as its clients send and read it.

Requests are checked the way Judge0 checks them (a 422 body of
``{"field": ["message", ...]}``); a stored run is shown as Judge0 shows a
submission: ``time``/``wall_time`` as decimal strings in seconds, ``memory`` in
KB, ``created_at`` as ``2024-01-31T12:00:00.123Z``, empty outputs as ``null``,
and, with ``base64_encoded=true``, every text field as base64 of its exact bytes.
"""

from __future__ import annotations

import binascii
import math
import uuid
from base64 import b64decode, b64encode
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from execbox.results import RunResult
from execbox.service.judge0.catalog import STATUSES, status_of
from execbox.store import RunRecord

DEFAULT_FIELDS = (
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
)
ALL_FIELDS = (
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
)
TEXT_FIELDS = ("source_code", "stdin", "expected_output", "stdout", "stderr", "compile_output")
LIMIT_FIELDS = (
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "redirect_stderr_to_stdout",
    "compiler_options",
    "command_line_arguments",
    "callback_url",
    "enable_network",
)
UTF8_ERROR = (
    "some attributes for this submission cannot be converted to UTF-8, "
    "use base64_encoded=true query parameter"
)
UTF8_BATCH_ERROR = (
    "some attributes for one or more submissions cannot be converted to UTF-8, "
    "use base64_encoded=true query parameter"
)


class InvalidFields(Exception):
    """``fields`` names attributes a submission does not have (Judge0: 400)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"invalid fields: [{', '.join(names)}]")
        self.message = str(self)


class NotUtf8(Exception):
    """A text attribute is not valid UTF-8 and base64 was not asked for."""


def requested_fields(raw: str | None) -> tuple[str, ...]:
    """``fields`` as Judge0 reads it: absent means the defaults, ``*`` means all."""
    if raw is None or not raw.strip():
        return DEFAULT_FIELDS
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if "*" in names:
        return ALL_FIELDS
    invalid = [name for name in names if name not in ALL_FIELDS]
    if invalid:
        raise InvalidFields(invalid)
    return tuple(dict.fromkeys(names))


def token_of(run_id: str) -> str:
    return str(uuid.UUID(hex=run_id))


def run_id_of(token: str) -> str | None:
    """The run id a token names, or None if it is not a UUID."""
    try:
        return uuid.UUID(token.strip()).hex
    except (ValueError, AttributeError):
        return None


def timestamp(moment: datetime | None) -> str | None:
    """Judge0's (Rails') format: ``2024-01-31T12:00:00.123Z``."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def decimal_seconds(ms: float | None) -> str | None:
    if ms is None:
        return None
    return f"{ms / 1000:.3f}"


def decode_base64(value: str) -> bytes:
    """Judge0 decodes leniently (Ruby's ``decode64``): whitespace is ignored."""
    try:
        return b64decode("".join(value.split()).encode("ascii"), validate=False)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise ValueError("is not valid base64") from exc


def strip_output(data: bytes) -> bytes:
    """How Judge0 compares outputs: each line right-stripped, then the whole stripped."""
    return b"\n".join(line.rstrip() for line in data.split(b"\n")).strip()


@dataclass(frozen=True)
class Stored:
    """What the Judge0 adapter keeps with a run (``api_request`` in the run log)."""

    language_id: int
    expected_output_b64: str | None = None
    redirect_stderr_to_stdout: bool = False
    echo: dict[str, Any] = field(default_factory=dict)
    """The request's own values of the limit and option fields, shown back as sent."""

    def dump(self) -> dict[str, Any]:
        return {
            "language_id": self.language_id,
            "expected_output_b64": self.expected_output_b64,
            "redirect_stderr_to_stdout": self.redirect_stderr_to_stdout,
            "echo": self.echo,
        }

    @classmethod
    def load(cls, data: Mapping[str, Any] | None) -> Stored:
        data = data or {}
        return cls(
            language_id=int(data.get("language_id", 0)),
            expected_output_b64=data.get("expected_output_b64"),
            redirect_stderr_to_stdout=bool(data.get("redirect_stderr_to_stdout", False)),
            echo=dict(data.get("echo") or {}),
        )


def _exact(result: RunResult | None, name: str) -> bytes | None:
    """A result's output exactly as the program wrote it; ``None`` when empty (as Judge0)."""
    if result is None:
        return None
    value: bytes | None = getattr(result.output_bytes(), name)
    return value or None


def _texts(record: RunRecord, stored: Stored) -> dict[str, bytes | None]:
    result = record.result
    stdout = _exact(result, "stdout")
    stderr = _exact(result, "stderr")
    if stored.redirect_stderr_to_stdout and result is not None:
        stdout = (stdout or b"") + (stderr or b"") or None
        stderr = None
    expected = (
        b64decode(stored.expected_output_b64) if stored.expected_output_b64 is not None else None
    )
    return {
        "source_code": record.code.encode(),
        "stdin": record.stdin.encode() or None,
        "expected_output": expected,
        "stdout": stdout,
        "stderr": stderr,
        "compile_output": _exact(result, "compile_output"),
    }


def status_id(record: RunRecord, stored: Stored) -> int:
    result = record.result
    if result is None:
        return 1
    texts = _texts(record, stored)
    accepted = texts["expected_output"] is None or strip_output(
        texts["expected_output"]
    ) == strip_output(texts["stdout"] or b"")
    return status_of(result.status, result.signal, accepted=accepted)


def _signal_number(name: str | None) -> int | None:
    if name is None:
        return None
    import signal as _signal

    try:
        return int(_signal.Signals[name])
    except KeyError:
        digits = name.removeprefix("SIG")
        return int(digits) if digits.isdigit() else None


def render(
    record: RunRecord,
    fields: Iterable[str],
    *,
    base64_encoded: bool,
    language_name: str | None = None,
) -> dict[str, Any]:
    """The submission as Judge0 shows it, restricted to ``fields``.

    Raises :class:`NotUtf8` when a text attribute is not UTF-8 and ``base64_encoded``
    is false (Judge0 then answers with an error asking for base64).
    """
    stored = Stored.load(record.api_request)
    result = record.result
    finished = result is not None
    texts = _texts(record, stored)
    status = status_id(record, stored)
    values: dict[str, Any] = {
        "token": token_of(record.id),
        "language_id": stored.language_id,
        "language": {"id": stored.language_id, "name": language_name},
        "status_id": status,
        "status": {"id": status, "description": STATUSES[status]},
        "created_at": timestamp(record.created_at),
        "finished_at": timestamp(record.finished_at),
        "time": decimal_seconds(result.cpu_time_ms) if finished and result else None,
        "wall_time": decimal_seconds(result.duration_ms) if finished and result else None,
        "memory": (result.memory_used // 1024) if finished and result else None,
        "exit_code": result.exit_code if result else None,
        "exit_signal": _signal_number(result.signal) if result else None,
        "message": result.message if result else None,
        "additional_files": None,
    }
    for name in LIMIT_FIELDS:
        values[name] = stored.echo.get(name)
    if result is not None and result.status.value == "compile_error":
        for name in ("time", "wall_time", "memory", "exit_code", "exit_signal"):
            values[name] = None
    for name, data in texts.items():
        if data is None:
            values[name] = None
        elif base64_encoded:
            values[name] = b64encode(data).decode("ascii")
        else:
            try:
                values[name] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                if name in fields:
                    raise NotUtf8(name) from exc
                values[name] = None
    return {name: values[name] for name in fields}


def finite_number(value: Any) -> float | None:
    """A JSON number or numeric string as Rails' numericality reads it; None if it is not."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None
