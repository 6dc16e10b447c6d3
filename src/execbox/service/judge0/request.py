"""A Judge0 submission request, checked as Judge0 checks it and turned into an execbox run.

Judge0's validation errors are a 422 body ``{"field": ["message", ...]}``; the
limits are this server's, capped by the caller's plan (see :func:`config_info`).
What execbox cannot do the way Judge0 would is refused with Judge0's own words
for a server configured without it: ``compiler_options`` ("setting compiler
options is not allowed"), per-process limits ("this option cannot be enabled"),
``enable_network``, more than one run per submission.
"""

from __future__ import annotations

import math
import shlex
from base64 import b64encode
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from execbox.errors import InvalidInput
from execbox.program import SourceFile
from execbox.service.judge0.archive import ArchiveTooLarge, unpack
from execbox.service.judge0.catalog import MULTI_FILE, VERSION, Offered
from execbox.service.judge0.wire import LIMIT_FIELDS, Stored, decode_base64, finite_number
from execbox.settings import Settings
from execbox.store import Plan

MULTI_FILE_ENTRY = (
    "# Judge0 89 (Multi-file program): run the archive's `compile` script, if any, then `run`.\n"
    "if [ -f ./compile ]; then bash ./compile || exit $?; fi\n"
    'exec bash ./run "$@"\n'
)


class Judge0Invalid(Exception):
    """Judge0's 422: ``errors`` maps each field to its messages."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(str(errors))
        self.errors = errors


@dataclass(frozen=True)
class Ceilings:
    """What a caller may ask for, in Judge0's units (seconds, KB)."""

    time_s: float
    memory_kb: int
    default_time_s: float
    default_memory_kb: int
    file_size_kb: int
    processes: int
    code_bytes: int

    @classmethod
    def of(cls, settings: Settings, plan: Plan | None) -> Ceilings:
        time_s = settings.max_time_limit_s
        memory_mb = settings.max_memory_limit_mb
        code_bytes = 102_400
        if plan is not None:
            time_s = min(time_s, plan.time_limit_s)
            memory_mb = min(memory_mb, plan.memory_limit_mb)
            code_bytes = plan.max_code_bytes
        return cls(
            time_s=time_s,
            memory_kb=memory_mb * 1024,
            default_time_s=min(settings.time_limit_s, time_s),
            default_memory_kb=min(settings.memory_limit_mb, memory_mb) * 1024,
            file_size_kb=settings.workdir_size_mb * 1024,
            processes=settings.pids_limit,
            code_bytes=code_bytes,
        )


def config_info(settings: Settings, ceilings: Ceilings, callbacks: bool) -> dict[str, Any]:
    """Judge0 1.13.1's ``/config_info`` keys with this server's real values."""
    return {
        "maintenance_mode": False,
        "enable_wait_result": True,
        "enable_compiler_options": False,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": True,
        "enable_submission_delete": False,
        "enable_callbacks": callbacks,
        "callbacks_max_tries": 3,
        "callbacks_timeout": 5.0,
        "enable_additional_files": True,
        "max_queue_size": settings.queue_limit,
        "cpu_time_limit": ceilings.default_time_s,
        "max_cpu_time_limit": ceilings.time_s,
        "cpu_extra_time": 0.0,
        "max_cpu_extra_time": 0.0,
        "wall_time_limit": ceilings.default_time_s,
        "max_wall_time_limit": ceilings.time_s,
        "memory_limit": ceilings.default_memory_kb,
        "max_memory_limit": ceilings.memory_kb,
        "stack_limit": ceilings.default_memory_kb,
        "max_stack_limit": ceilings.memory_kb,
        "max_processes_and_or_threads": ceilings.processes,
        "max_max_processes_and_or_threads": ceilings.processes,
        "enable_per_process_and_thread_time_limit": False,
        "allow_enable_per_process_and_thread_time_limit": False,
        "enable_per_process_and_thread_memory_limit": False,
        "allow_enable_per_process_and_thread_memory_limit": False,
        "max_file_size": ceilings.file_size_kb,
        "max_max_file_size": ceilings.file_size_kb,
        "number_of_runs": 1,
        "max_number_of_runs": 1,
        "redirect_stderr_to_stdout": False,
        "max_extract_size": ceilings.code_bytes // 1024,
        "enable_batched_submissions": True,
        "max_submission_batch_size": 20,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": False,
        "allow_enable_network": False,
        "enable_network": False,
        "disable_implicit_base64_encoding": True,
    }


@dataclass
class Translated:
    """A checked Judge0 submission as execbox runs it."""

    language: str
    files: list[SourceFile]
    stdin: str
    args: list[str]
    time_limit: float | None
    memory_limit: int | None
    stored: Stored
    callback_url: str | None
    had_additional_files: bool = False
    file_size_kb: int | None = None
    """``max_file_size``: the largest file the program may write."""
    errors: dict[str, list[str]] = field(default_factory=dict)


def _text(
    body: dict[str, Any], name: str, base64_encoded: bool, errors: dict[str, list[str]]
) -> bytes | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.setdefault(name, []).append("must be a string")
        return None
    if not base64_encoded:
        return value.encode()
    try:
        return decode_base64(value)
    except ValueError as exc:
        errors.setdefault(name, []).append(str(exc))
        return None


def _limit(
    body: dict[str, Any],
    name: str,
    ceiling: float,
    errors: dict[str, list[str]],
    *,
    floor: float = 0,
) -> float | None:
    value = body.get(name)
    if value is None or value == "":
        return None
    number = finite_number(value)
    if number is None:
        errors.setdefault(name, []).append("is not a number")
        return None
    if number <= floor:
        errors.setdefault(name, []).append(f"must be greater than {floor:g}")
    elif number > ceiling:
        errors.setdefault(name, []).append(f"must be less than or equal to {ceiling:g}")
    return number


def callback_allowed(url: str, allowed: list[str]) -> bool:
    """Whether ``url`` is http(s) to a host (``host`` or ``host:port``) an operator allows."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    host = parts.hostname.lower()
    for entry in allowed:
        entry = entry.strip().lower()
        if entry == host or (port is not None and entry == f"{host}:{port}"):
            return True
    return False


def translate(
    body: object,
    *,
    base64_encoded: bool,
    offered: dict[int, Offered],
    ceilings: Ceilings,
    callback_hosts: list[str],
) -> Translated:
    """``body`` checked as Judge0 checks it; raises :class:`Judge0Invalid` with every error."""
    if not isinstance(body, dict):
        raise Judge0Invalid({"base": ["the submission must be a JSON object"]})
    errors: dict[str, list[str]] = {}
    raw_id = body.get("language_id")
    language_id = (
        int(raw_id) if isinstance(raw_id, int | str) and str(raw_id).strip().isdigit() else None
    )
    offer = offered.get(language_id) if language_id is not None else None
    if raw_id is None or raw_id == "":
        errors.setdefault("language_id", []).append("can't be blank")
    elif offer is None:
        errors.setdefault("language_id", []).append(f"language with id {raw_id} doesn't exist")
    multi_file = language_id == MULTI_FILE
    source = _text(body, "source_code", base64_encoded, errors)
    if not multi_file and not source and "source_code" not in errors:
        errors.setdefault("source_code", []).append("can't be blank")
    stdin = _text(body, "stdin", base64_encoded, errors) or b""
    expected = _text(body, "expected_output", base64_encoded, errors)
    for name, data in (("source_code", source), ("stdin", stdin)):
        if data is not None:
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                errors.setdefault(name, []).append("must be valid UTF-8 text on this server")

    cpu = _limit(body, "cpu_time_limit", ceilings.time_s, errors)
    wall = _limit(body, "wall_time_limit", ceilings.time_s, errors)
    _limit(body, "cpu_extra_time", 0.0, errors, floor=-1)
    memory_kb = _limit(body, "memory_limit", ceilings.memory_kb, errors)
    if memory_kb is not None and 0 < memory_kb < 8 * 1024:
        errors.setdefault("memory_limit", []).append(f"must be greater than or equal to {8 * 1024}")
    _limit(body, "stack_limit", ceilings.memory_kb, errors)
    _limit(body, "max_processes_and_or_threads", ceilings.processes, errors)
    file_size_kb = _limit(body, "max_file_size", ceilings.file_size_kb, errors)
    _limit(body, "number_of_runs", 1, errors)
    for name in (
        "enable_per_process_and_thread_time_limit",
        "enable_per_process_and_thread_memory_limit",
    ):
        if body.get(name) is True:
            errors.setdefault(name, []).append("this option cannot be enabled")
    if body.get("enable_network") is True:
        errors.setdefault("enable_network", []).append(
            "enabling network is not allowed: programs here never reach a network"
        )
    if body.get("compiler_options"):
        errors.setdefault("compiler_options", []).append("setting compiler options is not allowed")
    args: list[str] = []
    arguments = body.get("command_line_arguments")
    if arguments is not None:
        if not isinstance(arguments, str) or len(arguments) > 512:
            errors.setdefault("command_line_arguments", []).append(
                "must be a string of at most 512 characters"
            )
        else:
            try:
                args = shlex.split(arguments)
            except ValueError as exc:
                errors.setdefault("command_line_arguments", []).append(f"cannot be split: {exc}")
    redirect = body.get("redirect_stderr_to_stdout")
    if redirect is not None and not isinstance(redirect, bool):
        errors.setdefault("redirect_stderr_to_stdout", []).append("must be true or false")
    callback = body.get("callback_url")
    if (callback is not None and callback != "") and (
        not isinstance(callback, str) or not callback_allowed(callback, callback_hosts)
    ):
        errors.setdefault("callback_url", []).append(
            "is not allowed: this server only calls back hosts its operator allows"
        )

    extra: list[SourceFile] = []
    archive = body.get("additional_files")
    if archive is not None and archive != "":
        if not isinstance(archive, str):
            errors.setdefault("additional_files", []).append("must be a base64 zip")
        else:
            try:
                extra = unpack(archive, max_bytes=ceilings.code_bytes)
            except InvalidInput as exc:
                if isinstance(exc, ArchiveTooLarge):
                    raise
                errors.setdefault("additional_files", []).append(exc.message)
    if multi_file and not errors and not any(f.name == "run" for f in extra):
        errors.setdefault("additional_files", []).append(
            "must hold a `run` script for language 89 (Multi-file program)"
        )
    if errors:
        raise Judge0Invalid(errors)
    assert offer is not None and language_id is not None

    entry = MULTI_FILE_ENTRY.encode() if multi_file else (source or b"")
    files = [SourceFile(offer.entry_file or offer.source_file, entry), *extra]
    times = [t for t in (cpu, wall) if t is not None]
    echo = {name: body.get(name) for name in LIMIT_FIELDS if body.get(name) is not None}
    return Translated(
        language=offer.language.runs,
        files=files,
        stdin=stdin.decode("utf-8"),
        args=args,
        time_limit=min(times) if times else None,
        memory_limit=math.ceil(memory_kb / 1024) if memory_kb is not None else None,
        file_size_kb=math.ceil(file_size_kb) if file_size_kb is not None else None,
        stored=Stored(
            language_id=language_id,
            expected_output_b64=b64encode(expected).decode() if expected is not None else None,
            redirect_stderr_to_stdout=bool(redirect),
            echo=echo,
        ),
        callback_url=callback or None,
        had_additional_files=bool(extra),
    )


def about() -> dict[str, Any]:
    return {
        "version": VERSION,
        "homepage": None,
        "source_code": None,
        "maintainer": "execbox (a Judge0 CE 1.13.1 compatible API)",
    }
