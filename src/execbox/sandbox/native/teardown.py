"""Sandboxes torn down after their step has answered, off the step's critical path.

When a step's report arrives nothing of its sandbox runs any more (see ``init.c``), so
the step answers first; killing and reaping the builder, removing the cgroup, unmounting
the run directory and giving its uid back happen here, on one worker thread, in the
order they were handed in: a run's workspace (its run directory and uid) is handed in
after its steps, so a uid goes back to the pool only once everything that ran as it is
gone, and a run directory is removed only after the run's last step.

A teardown waits for the run in the foreground to be answered, a little while at most
(:mod:`execbox.foreground`), so that its work does not slow the answer down.

Bounded: at most ``limit`` teardowns wait; a step handing in one more waits for room (so
a burst cannot pile up sandboxes).  A teardown that fails is logged, and the next goes
on.  ``settle`` waits until every teardown handed in is done (``close`` of the backend
does, so "nothing left behind" still holds when it returns).
"""

from __future__ import annotations

import atexit
import collections
import logging
import threading
import time
import weakref
from collections.abc import Callable

from execbox import foreground

log = logging.getLogger(__name__)

LIMIT = 32
SETTLE_TIMEOUT_S = 60.0
IDLE_EXIT_S = 5.0
"""The worker waits this long for more before it ends (starting a thread costs the step
that hands in a teardown a context switch)."""


class Teardowns:
    """Teardowns waiting for the worker thread (started when there is work, gone after
    ``IDLE_EXIT_S`` without any)."""

    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Condition()
        self._waiting: collections.deque[tuple[str, Callable[[], object], float]] = (
            collections.deque()
        )
        self._pending = 0
        """Handed in and not finished (waiting or being done)."""
        self._worker: threading.Thread | None = None
        _ALL.add(self)

    def submit(self, what: str, teardown: Callable[[], object]) -> None:
        """Run ``teardown`` (of ``what``, for the log) after the ones handed in before."""
        with self._lock:
            self._lock.wait_for(lambda: self._pending < self.limit)
            self._pending += 1
            self._waiting.append((what, teardown, time.monotonic()))
            self._lock.notify_all()
            if self._worker is None:
                self._worker = threading.Thread(
                    target=self._work, name="execbox-teardown", daemon=True
                )
                self._worker.start()

    def settle(self, timeout_s: float = SETTLE_TIMEOUT_S) -> bool:
        """Wait until every teardown handed in is done; answers whether they all are."""
        with foreground.hurried(), self._lock:
            return self._lock.wait_for(lambda: self._pending == 0, timeout_s)

    @property
    def pending(self) -> int:
        with self._lock:
            return self._pending

    def _work(self) -> None:
        while True:
            with self._lock:
                if not self._lock.wait_for(lambda: self._waiting, IDLE_EXIT_S):
                    self._worker = None
                    return
                what, teardown, due = self._waiting.popleft()
            try:
                foreground.wait(due)
                teardown()
            except Exception:
                log.exception("could not tear down %s", what)
            finally:
                with self._lock:
                    self._pending -= 1
                    self._lock.notify_all()


_ALL: weakref.WeakSet[Teardowns] = weakref.WeakSet()
"""Every queue with a worker is alive (its thread holds it), even once its backend is gone."""


@atexit.register
def settle_all() -> None:
    """Finish every teardown handed in, its backend still there or not (at exit: the worker
    is a daemon thread, the process would otherwise end with run directories mounted)."""
    for teardowns in list(_ALL):
        if not teardowns.settle():
            log.error("sandbox teardowns still pending at exit after %.0f s", SETTLE_TIMEOUT_S)
