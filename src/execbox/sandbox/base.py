"""The protocol every sandbox backend implements, and the typed data it exchanges.

A run is one *workspace* (a private, size-capped run directory holding the
source file, shared by the run's compile and run steps) and one or more
*steps*, each in a fresh sandbox.  A backend reports what happened to the
step as raw facts (exit code, signal, which limit fired, peaks); turning those
into a contract status is the engine's job, the same for every backend.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from execbox.languages.registry import Language
from execbox.limits import Limits
from execbox.live import LiveStep


@dataclass(frozen=True)
class StepSpec:
    """One program to run in a fresh sandbox inside a workspace."""

    argv: list[str]
    limits: Limits
    stdin: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[str, ...] = ()
    """Extra host paths bound read-only at the same place (a language's needs)."""
    kind: str = "run"
    """``compile`` or ``run``: used for naming and messages."""
    language: str | None = None
    """The id of the language the step runs (the Docker backend's image is per language:
    a file name such as ``main.pl`` does not tell Perl from Prolog)."""
    live: LiveStep | None = field(default=None, compare=False)
    """When someone watches the run: output is passed on as it is read, a stop ends the step
    and, if the step ``takes_input``, its stdin is the live run's input (``stdin`` unused)."""


@dataclass(frozen=True)
class StepOutcome:
    """What happened to one step, as facts; ``None`` where a fact is unknown."""

    exit_code: int | None
    signal: int | None
    stdout: bytes
    stderr: bytes
    duration_ms: float
    cpu_time_ms: float
    memory_bytes: int
    timed_out: bool = False
    """The wall-clock or CPU-time limit ended the step."""
    oom_killed: bool = False
    """The memory limit ended (part of) the step."""
    output_limited: bool = False
    """stdout or stderr passed the cap; what was kept is in ``stdout``/``stderr``."""


@dataclass
class Workspace:
    """A run's private directory, as the backend that made it knows it."""

    run_id: str
    limits: Limits
    handle: object = None


@dataclass(frozen=True)
class Check:
    """One line of ``execbox doctor``: what was checked, whether it works, how to fix it."""

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""


@runtime_checkable
class SandboxBackend(Protocol):
    """Runs steps in fresh sandboxes.  Raises :class:`~execbox.errors.SandboxError` when the
    sandbox (not the program) fails."""

    name: str

    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> AbstractContextManager[Workspace]:
        """A fresh run directory holding ``files``, destroyed on exit whatever happened."""
        ...

    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        """Run one step to completion or to a limit; never leaves a process behind."""
        ...

    def checks(self) -> Iterator[Check]:
        """Self-checks for ``execbox doctor`` and readiness, cheapest first."""
        ...

    def offers(self, language: Language) -> bool:
        """Whether this backend can run ``language`` here (a host toolchain, an image)."""
        ...

    def language_version(self, language: Language) -> str | None:
        """The toolchain version programs of ``language`` run with on this backend."""
        ...
