"""The one small interface between the API and whatever executes runs.

The API hands a :class:`RunJob` to a :class:`Dispatcher` and awaits a
:class:`JobOutcome`.  Embedded, the dispatcher is a bounded local worker pool;
scaled out, the same interface fronts a Redis-backed queue and remote workers.
A job carries plain data only (no callables), so it can cross a process boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Protocol, TypeVar, runtime_checkable

from execbox.limits import Limits
from execbox.live import LiveRun
from execbox.program import SourceFile
from execbox.results import RunResult

T = TypeVar("T")


@dataclass(frozen=True)
class RunJob:
    run_id: str
    language: str
    code: str
    stdin: str
    args: tuple[str, ...]
    limits: Limits
    files: tuple[SourceFile, ...] = ()
    """A multi-file program (the first is the entry); when empty, ``code`` is the program."""


@dataclass(frozen=True)
class JobOutcome:
    result: RunResult
    queue_wait_s: float
    """Time from submission until a worker took the job."""
    work_s: float
    """Time the worker spent on the job, sandbox set-up and tear-down included."""


@runtime_checkable
class LiveDispatcher(Protocol):
    """A dispatcher whose runs can stream (output as written, input, a stop): the embedded
    pool.  A run on a remote worker cannot (the live channel does not cross processes)."""

    async def submit_live(self, job: RunJob, live: LiveRun) -> JobOutcome:
        """As ``Dispatcher.submit``, the run streaming to ``live``."""
        ...


Execute = Callable[[RunJob, LiveRun | None], JobOutcome]
"""Runs a job to its outcome on the worker that calls it (blocking)."""


@runtime_checkable
class ThroughDispatcher(Protocol):
    """A dispatcher that can give a request a whole worker, admission to stored result, in
    one thread hop (the embedded pool, when a worker is idle)."""

    def reserve(self) -> bool:
        """Take an idle worker now (``True``; :meth:`run_reserved` must follow), or ``False``
        if none is idle (nothing taken)."""
        ...

    def run_reserved(self, work: Callable[[Execute], T]) -> Future[T]:
        """Run ``work`` on the worker :meth:`reserve` took; it is given the function that runs
        a job there.  The worker is the request's until ``work`` returns."""
        ...


class Dispatcher(Protocol):
    def has_capacity(self) -> bool:
        """Whether a job submitted now would be taken (a hint; ``submit`` decides)."""
        ...

    async def submit(self, job: RunJob) -> JobOutcome:
        """Run ``job`` to its result; raises ``NoCapacity`` before starting it if full.

        Never raises for a program's or the sandbox's failure: those are results.
        """
        ...

    def queue_depth(self) -> int:
        """Jobs accepted and waiting for a worker."""
        ...

    def in_flight(self) -> int:
        """Jobs accepted and not finished (waiting or running)."""
        ...

    def close(self) -> None:
        """Finish every accepted job, then stop (the drain at shutdown)."""
        ...


@runtime_checkable
class QueueingDispatcher(Protocol):
    """A dispatcher that can hand a job to workers without waiting for it (the Redis queue):
    the worker stores the result in the shared run log."""

    async def enqueue(self, job: RunJob) -> None:
        """Queue ``job``; raises ``NoCapacity`` when it cannot be queued now."""
        ...
