"""The embedded dispatcher: a bounded pool of worker threads in the API process.

Each worker blocks in the engine (the sandbox does the isolating; the thread
only waits on it), so one thread per concurrent run is right.  At most
``workers`` run at once and ``queue_limit`` more wait; beyond that ``submit``
refuses at once with :class:`NoCapacity`, which the API answers with 503.

A request that finds a worker idle can instead have it for its whole way
(:meth:`LocalDispatcher.reserve`, then :meth:`LocalDispatcher.run_reserved`):
admission, the run and storing the result in one thread, one hop from the
event loop and one back, rather than a hop for each.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from execbox.dispatch.base import Execute, JobOutcome, RunJob
from execbox.engine import Engine
from execbox.errors import ExecboxError, NoCapacity
from execbox.live import LiveRun
from execbox.results import RunResult

log = logging.getLogger(__name__)
T = TypeVar("T")


class LocalDispatcher:
    def __init__(self, engine: Engine, *, workers: int, queue_limit: int) -> None:
        self.engine = engine
        self.workers = workers
        self.queue_limit = queue_limit
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="execbox-worker")
        self._lock = threading.Lock()
        self._accepted = 0
        self._running = 0
        self._closed = False

    def has_capacity(self) -> bool:
        with self._lock:
            return not self._closed and self._accepted < self.workers + self.queue_limit

    def queue_depth(self) -> int:
        with self._lock:
            return self._accepted - self._running

    def in_flight(self) -> int:
        with self._lock:
            return self._accepted

    async def submit(self, job: RunJob) -> JobOutcome:
        return await self._submit(job, None)

    async def submit_live(self, job: RunJob, live: LiveRun) -> JobOutcome:
        """As :meth:`submit`, the run streaming to ``live`` (the embedded pool runs jobs in
        this process, so a live channel can reach the sandbox)."""
        return await self._submit(job, live)

    async def _submit(self, job: RunJob, live: LiveRun | None) -> JobOutcome:
        with self._lock:
            if self._closed:
                raise NoCapacity("The service is shutting down; try again shortly.", 5)
            if self._accepted >= self.workers + self.queue_limit:
                raise NoCapacity("Every worker is busy and the queue is full; try again.", 2)
            self._accepted += 1
        future: Future[JobOutcome] = self._pool.submit(self._work, job, time.monotonic(), live)
        future.add_done_callback(self._done)
        # shield: a client that goes away must not cancel a run already accepted
        return await asyncio.shield(asyncio.wrap_future(future))

    def reserve(self) -> bool:
        """Take an idle worker for a request not admitted yet: ``True`` if one was idle (it
        counts as accepted at once; :meth:`run_reserved` must follow), ``False`` if every
        worker is taken (then nothing is)."""
        with self._lock:
            if self._closed or self._accepted >= self.workers:
                return False
            self._accepted += 1
            return True

    def run_reserved(self, work: Callable[[Execute], T]) -> Future[T]:
        """Run ``work`` on the worker :meth:`reserve` took, handing it the function that
        runs a job on that worker; the worker is free again when ``work`` returns."""
        try:
            future = self._pool.submit(work, self._work_now)
        except RuntimeError:  # shut down since the reservation
            with self._lock:
                self._accepted -= 1
            raise NoCapacity("The service is shutting down; try again shortly.", 5) from None
        future.add_done_callback(self._done)
        return future

    def _work_now(self, job: RunJob, live: LiveRun | None) -> JobOutcome:
        return self._work(job, time.monotonic(), live)

    def _done(self, _future: Future[Any]) -> None:
        with self._lock:
            self._accepted -= 1

    def _work(self, job: RunJob, submitted: float, live: LiveRun | None) -> JobOutcome:
        started = time.monotonic()
        with self._lock:
            self._running += 1
        try:
            result = self._execute(job, live)
        finally:
            with self._lock:
                self._running -= 1
        return JobOutcome(
            result, queue_wait_s=started - submitted, work_s=time.monotonic() - started
        )

    def _execute(self, job: RunJob, live: LiveRun | None) -> RunResult:
        return execute_job(self.engine, job, live)

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=True)


def execute_job(engine: Engine, job: RunJob, live: LiveRun | None = None) -> RunResult:
    """Run ``job`` on ``engine`` to its result (blocking): a failure of execbox itself is an
    ``internal_error`` result, never an exception (the embedded pool and ``execbox worker``)."""
    try:
        language = engine.registry.get(job.language)
        return engine.run(
            language,
            job.files or job.code,
            limits=job.limits,
            stdin=job.stdin,
            args=job.args,
            run_id=job.run_id,
            live=live,
        )
    except ExecboxError as exc:
        log.error("run %s could not be executed: %s", job.run_id, exc)
        return RunResult.internal_error(job.language, f"The run could not be executed: {exc}")
    except Exception:
        log.exception("run %s failed inside the service", job.run_id)
        return RunResult.internal_error(job.language, "The service failed running this program.")
