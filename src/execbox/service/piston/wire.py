"""Piston v2's execute request and its answer, translated to and from execbox's.

Piston's units: timeouts in milliseconds, memory limits in bytes (``-1``: the
server's limit, here the caller's plan), ``cpu_time``/``wall_time`` in
milliseconds, ``memory`` in bytes.  A stage's ``status`` is ``RE`` (non-zero
exit), ``SG`` (killed by a signal; a memory-limit kill is a SIGKILL, as in
Piston), ``TO`` (time limit), ``OL``/``EL`` (stdout/stderr passed the output
cap) or ``XX`` (the sandbox failed); ``null`` when the stage succeeded.
"""

from __future__ import annotations

import binascii
import math
from base64 import b64decode
from dataclasses import dataclass
from typing import Any

from execbox.results import RunResult, Status


class BadRequest(Exception):
    """Piston's ``400 {"message"}``."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class PistonFile:
    name: str | None
    content: str


@dataclass(frozen=True)
class Execute:
    language: str
    version: str
    files: list[PistonFile]
    stdin: str
    args: list[str]
    run_timeout_ms: float | None
    compile_timeout_ms: float | None
    run_memory_bytes: int | None
    compile_memory_bytes: int | None


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadRequest(f"{name} must be a number")
    return float(value)


def _decode(index: int, content: str, encoding: str) -> str:
    if encoding == "utf8":
        return content
    try:
        if encoding == "base64":
            raw = b64decode(content.encode("ascii"), validate=True)
        elif encoding == "hex":
            raw = bytes.fromhex(content)
        else:
            raise BadRequest(f"files[{index}].encoding must be one of utf8, base64, hex")
        return raw.decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise BadRequest(f"files[{index}].content is not valid {encoding} of UTF-8 text") from exc


def parse(body: object) -> Execute:
    """Piston's checks, in its order, each a 400 with its message."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object")
    language = body.get("language")
    if not isinstance(language, str):
        raise BadRequest("language is required as a string")
    version = body.get("version", "*")
    if not isinstance(version, str):
        raise BadRequest("version is required as a string")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise BadRequest("files is required as an array")
    parsed: list[PistonFile] = []
    for index, item in enumerate(files):
        if not isinstance(item, dict) or not isinstance(item.get("content"), str):
            raise BadRequest(f"files[{index}].content is required as a string")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise BadRequest(f"files[{index}].name must be a string")
        encoding = item.get("encoding", "utf8")
        if not isinstance(encoding, str):
            raise BadRequest(f"files[{index}].encoding must be one of utf8, base64, hex")
        parsed.append(PistonFile(name or None, _decode(index, item["content"], encoding)))
    stdin = body.get("stdin", "")
    if stdin is None:
        stdin = ""
    if not isinstance(stdin, str):
        raise BadRequest("stdin must be a string")
    args = body.get("args", [])
    if args is None:
        args = []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise BadRequest("args must be an array of strings")
    return Execute(
        language=language,
        version=version,
        files=parsed,
        stdin=stdin,
        args=list(args),
        run_timeout_ms=_number(body, "run_timeout"),
        compile_timeout_ms=_number(body, "compile_timeout"),
        run_memory_bytes=_memory(body, "run_memory_limit"),
        compile_memory_bytes=_memory(body, "compile_memory_limit"),
    )


def _memory(body: dict[str, Any], name: str) -> int | None:
    value = _number(body, name)
    if value is None or value == -1:
        return None
    if value < 0 or value != int(value):
        raise BadRequest(f"{name} must be -1 or a whole number of bytes")
    return int(value)


def version_matches(wanted: str, actual: str | None) -> bool:
    """Piston's semver match, as far as clients use it: ``*``, an exact version, or a
    prefix with ``x``/``*`` wildcards (``3``, ``3.x``, ``3.11.*``)."""
    wanted = wanted.strip()
    if wanted in {"", "*", "x", "latest"}:
        return True
    if actual is None:
        return False
    have = actual.split(".")
    for index, part in enumerate(wanted.split(".")):
        if part in {"x", "X", "*"}:
            continue
        if index >= len(have) or have[index] != part:
            return False
    return True


def _stage(
    *,
    stdout: str,
    stderr: str,
    exit_code: int | None,
    signal: str | None,
    status: str | None,
    message: str | None,
    cpu_time_ms: float | None,
    wall_time_ms: float | None,
    memory_bytes: int | None,
) -> dict[str, Any]:
    return {
        "stdout": stdout,
        "stderr": stderr,
        "output": stdout + stderr,
        "code": exit_code,
        "signal": signal,
        "message": message,
        "status": status,
        "cpu_time": None if cpu_time_ms is None else round(cpu_time_ms),
        "wall_time": None if wall_time_ms is None else round(wall_time_ms),
        "memory": memory_bytes,
    }


def _status(result: RunResult, output_cap: int) -> str | None:
    if result.status is Status.OK:
        return None
    if result.status is Status.TIMEOUT:
        return "TO"
    if result.status is Status.OUTPUT_LIMIT:
        return "OL" if len(result.stdout.encode()) >= output_cap else "EL"
    if result.status is Status.INTERNAL_ERROR:
        return "XX"
    if result.signal is not None or result.status is Status.MEMORY_LIMIT:
        return "SG"
    return "RE"


def answer(result: RunResult, *, compiled: bool, output_cap: int) -> dict[str, Any]:
    """The body of Piston's 200: ``language``, ``version``, ``run`` and, for compiled
    languages, ``compile`` (``run`` is absent when compiling failed, as in Piston)."""
    body: dict[str, Any] = {"language": result.language, "version": result.version}
    if result.status is Status.COMPILE_ERROR:
        output = result.compile_output or ""
        signal = result.signal
        body["compile"] = _stage(
            stdout="",
            stderr=output,
            exit_code=result.exit_code,
            signal=signal,
            status="TO"
            if result.message and "Time limit" in result.message
            else ("SG" if signal else "RE"),
            message=result.message,
            cpu_time_ms=result.cpu_time_ms,
            wall_time_ms=result.duration_ms,
            memory_bytes=result.memory_used,
        )
        return body
    if compiled:
        output = result.compile_output or ""
        body["compile"] = _stage(
            stdout="",
            stderr=output,
            exit_code=0,
            signal=None,
            status=None,
            message=None,
            cpu_time_ms=None,
            wall_time_ms=None,
            memory_bytes=None,
        )
    status = _status(result, output_cap)
    signal = result.signal
    if result.status is Status.MEMORY_LIMIT and signal is None:
        signal = "SIGKILL"
    body["run"] = _stage(
        stdout=result.stdout,
        stderr=result.stderr,
        exit_code=result.exit_code if signal is None else None,
        signal=signal,
        status=status,
        message=result.message,
        cpu_time_ms=result.cpu_time_ms,
        wall_time_ms=result.duration_ms,
        memory_bytes=result.memory_used,
    )
    return body
