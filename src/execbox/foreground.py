"""A run in the foreground holds the sandbox's background work off, for a while.

A run being admitted, run, stored and answered is *in the foreground* (``with held():``
around a run in the engine, and around a whole request in the service).  The native
backend's background work (warm sandboxes started, used ones torn down) is Python in the
same process: done alongside a run, it takes the GIL and, on a small host, the CPU from
the run's own code (its files written, its result stored and answered) for a millisecond
or two on every run.  So each piece of it first waits until nothing is in the foreground,
but never past a deadline ``MAX_DEFER_S`` after it became due: one run at a time, it
happens after the answer, before the next run; under steady load it still happens, that
much later.  While someone waits for the background work (``with hurried():``: a settle,
a drain), it does not wait.

One state per process: the service and the engine in it share the backend's threads.  It lives
outside :mod:`execbox.sandbox` because the service holds it too, and an API node (which runs
no sandbox) loads no sandbox code.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

MAX_DEFER_S = 0.05
"""How long background work due now may wait for the foreground to end."""


class Foreground:
    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._held = 0
        self._hurried = 0

    @contextmanager
    def held(self) -> Iterator[None]:
        """A run in the foreground for the block's length."""
        with self._lock:
            self._held += 1
        try:
            yield
        finally:
            with self._lock:
                self._held -= 1
                if not self._held:
                    self._lock.notify_all()

    @contextmanager
    def hurried(self) -> Iterator[None]:
        """Background work waits for nothing while the block runs (someone waits for it)."""
        with self._lock:
            self._hurried += 1
            self._lock.notify_all()
        try:
            yield
        finally:
            with self._lock:
                self._hurried -= 1

    def wait(self, due: float) -> bool:
        """Wait until nothing is in the foreground, or until ``MAX_DEFER_S`` after ``due``
        (a ``time.monotonic()``); answers whether the foreground was clear."""
        deadline = due + MAX_DEFER_S
        with self._lock:
            while self._held and not self._hurried:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True


_FOREGROUND = Foreground()
held = _FOREGROUND.held
hurried = _FOREGROUND.hurried
wait = _FOREGROUND.wait


def in_foreground(function: Callable[P, T]) -> Callable[P, T]:
    """``function``'s calls are in the foreground."""

    @functools.wraps(function)
    def call(*args: P.args, **kwargs: P.kwargs) -> T:
        with held():
            return function(*args, **kwargs)

    return call
