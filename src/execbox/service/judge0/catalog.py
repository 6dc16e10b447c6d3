"""Judge0 CE 1.13.1's language ids and statuses, as data, and what runs each id here.

Several ids may run one execbox language (C 48, 49, 50 and 75 all run ``c``);
each is named after what really runs it (``C (GCC 12.2.0)``), not after the
toolchain Judge0 shipped.  Only ids whose language this host can run are listed
or accepted.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from execbox.errors import ConfigError
from execbox.results import Status

VERSION = "1.13.1"
MULTI_FILE = 89

STATUSES: dict[int, str] = {
    1: "In Queue",
    2: "Processing",
    3: "Accepted",
    4: "Wrong Answer",
    5: "Time Limit Exceeded",
    6: "Compilation Error",
    7: "Runtime Error (SIGSEGV)",
    8: "Runtime Error (SIGXFSZ)",
    9: "Runtime Error (SIGFPE)",
    10: "Runtime Error (SIGABRT)",
    11: "Runtime Error (NZEC)",
    12: "Runtime Error (Other)",
    13: "Internal Error",
    14: "Exec Format Error",
}

_SIGNAL_STATUS = {"SIGSEGV": 7, "SIGXFSZ": 8, "SIGFPE": 9, "SIGABRT": 10}


@dataclass(frozen=True)
class Judge0Language:
    id: int
    judge0: str
    """The name Judge0 1.13.1 gives this id."""
    runs: str
    """The execbox language id that runs it."""
    multi_file: bool = False


@dataclass(frozen=True)
class Offered:
    """A Judge0 language id this host runs, named after its real toolchain."""

    language: Judge0Language
    name: str
    source_file: str
    compile_cmd: str | None
    run_cmd: str
    entry_file: str = ""
    """Where the program's entry goes in the run directory (the running language's name)."""


@lru_cache(maxsize=1)
def table() -> tuple[Judge0Language, ...]:
    path = Path(__file__).with_name("languages.toml")
    try:
        with path.open("rb") as handle:
            rows = tomllib.load(handle)["language"]
        return tuple(Judge0Language(**row) for row in rows)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"invalid Judge0 language table {path}: {exc}") from exc


def display_name(name: str, version: str | None) -> str:
    """``C (GCC)`` with ``12.2.0`` -> ``C (GCC 12.2.0)``; ``Python`` -> ``Python (3.11.2)``."""
    if not version:
        return name
    if name.endswith(")"):
        return f"{name[:-1]} {version})"
    return f"{name} ({version})"


def status_of(status: Status, signal: str | None, *, accepted: bool = True) -> int:
    """The Judge0 status id Judge0 would report for a run that ended with ``status``.

    A memory-limit kill is what isolate reports as a SIGKILL (12, Runtime Error (Other));
    an output cap is what Judge0's file-size limit on stdout does (8, SIGXFSZ).
    ``accepted`` is false when ``expected_output`` did not match (4, Wrong Answer).
    """
    if status is Status.OK:
        return 3 if accepted else 4
    if status is Status.COMPILE_ERROR:
        return 6
    if status is Status.TIMEOUT:
        return 5
    if status is Status.MEMORY_LIMIT:
        return 12
    if status is Status.OUTPUT_LIMIT:
        return 8
    if status is Status.INTERNAL_ERROR:
        return 13
    if signal is None:
        return 11
    return _SIGNAL_STATUS.get(signal, 12)


def offered(
    languages: Iterable[tuple[str, str, str | None, str, str | None, str]],
) -> dict[int, Offered]:
    """The ids this host runs, from ``(id, name, version, source_file, compile, run)`` rows
    of its installed languages."""
    installed = {row[0]: row for row in languages}
    result: dict[int, Offered] = {}
    for entry in table():
        row = installed.get(entry.runs)
        if row is None:
            continue
        _, name, version, source_file, compile_cmd, run_cmd = row
        if entry.multi_file:
            result[entry.id] = Offered(
                entry, "Multi-file program", "run", "bash ./compile", "bash ./run", source_file
            )
            continue
        result[entry.id] = Offered(
            entry, display_name(name, version), source_file, compile_cmd, run_cmd, source_file
        )
    return result
