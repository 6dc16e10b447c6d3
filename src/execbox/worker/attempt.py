"""One attempt at one run, on the worker: the run log's side of it (blocking calls).

``begin`` counts the attempt in the run log and reads the run (or learns that it is
final already, or was lost twice and is now ``internal_error``); ``execute`` runs it in
the sandbox; ``store`` writes its result (the first final result wins, counted once).
A database that cannot be reached is retried until it answers or the worker must stop.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError

from execbox.dispatch.base import RunJob
from execbox.dispatch.local import execute_job
from execbox.dispatch.payload import BadPayload, job_of
from execbox.engine import Engine
from execbox.results import RunResult
from execbox.store import Clock, Database, runs

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRY_S = 1.0


class GaveUp(Exception):
    """The database stayed unreachable until the worker had to stop."""


class Attempts:
    def __init__(self, engine: Engine, db: Database, clock: Clock, stop: threading.Event) -> None:
        self.engine = engine
        self.db = db
        self.clock = clock
        self.stop = stop
        """Set when the worker must give up waiting for the database (drain timed out)."""

    def begin(self, run_id: str) -> tuple[runs.Attempt, RunJob | None]:
        def work() -> tuple[runs.Attempt, runs.RunRecord | None]:
            with self.db.transaction() as session:
                return runs.begin_attempt(session, run_id, self.clock())

        attempt, record = self._retrying(f"begin run {run_id}", work)
        if attempt is runs.Attempt.LOST_TWICE:
            log.error("run %s was lost twice; it ends internal_error", run_id)
        if record is None:
            return attempt, None
        try:
            return attempt, job_of(record)
        except BadPayload as exc:
            log.error("run %s cannot be executed: %s", run_id, exc)
            failed = RunResult.internal_error(record.language, f"The run cannot be executed: {exc}")
            self.store(run_id, failed)
            return runs.Attempt.FINAL, None

    def execute(self, job: RunJob) -> RunResult:
        return execute_job(self.engine, job)

    def run(self, run_id: str) -> runs.Attempt:
        """The whole attempt in one (worker) thread: begin, execute, store."""
        attempt, job = self.begin(run_id)
        if job is not None:
            self.store(run_id, self.execute(job))
        return attempt

    def store(self, run_id: str, result: RunResult) -> bool:
        def work() -> bool:
            with self.db.transaction() as session:
                return runs.finish(session, run_id, result, self.clock())

        stored = self._retrying(f"store run {run_id}", work)
        if not stored:
            log.warning("run %s was already final; this attempt's result is dropped", run_id)
        return stored

    def _retrying(self, what: str, work: Callable[[], T]) -> T:
        warned = False
        while True:
            try:
                return work()
            except DBAPIError as exc:
                if self.stop.is_set():
                    raise GaveUp(f"{what}: the database did not answer: {exc}") from exc
                if not warned:
                    log.warning("%s: the database did not answer (%s); retrying", what, exc)
                    warned = True
                time.sleep(RETRY_S)
