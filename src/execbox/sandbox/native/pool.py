"""Sandboxes started ahead of time: a few fresh, never-used ones per kind, each used once.

A *warm* sandbox is everything a step needs but what it runs: a uid leased, an empty
run directory mounted, a cgroup with the step's limits, and the builder started in it
with every namespace (network included) made and every mount done, blocked just before
its init runs (:mod:`.started`).  A step whose kind (a :data:`Key`: the language's
mounts and environment, the limits the cgroup and mounts are made with) has one waiting
takes it and pays only for writing its files and exec'ing its program; the pool then
starts a replacement in the background, once the run is answered (a while at most:
:mod:`execbox.foreground`).  A kind is kept warm once a step asked for it
(the last few kinds asked for); a warm sandbox is never given to two steps, never
reused, and destroyed like any other at the end of its step.

Nothing is traded for isolation: a warm sandbox is as fresh as one made on demand (no
process of a run ever ran in it before it is claimed), and while it waits nothing
runs in it but the builder, blocked.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from execbox import foreground

log = logging.getLogger(__name__)

RETRY_AFTER_FAILURE_S = 1.0
DRAIN_TIMEOUT_S = 30.0
CLAIM_WAIT_S = 5.0

K = TypeVar("K")
W = TypeVar("W")


@dataclass
class _Kind(Generic[W]):
    ready: collections.deque[W]
    starting: int = 0


class WarmPool(Generic[K, W]):
    """Up to ``size`` warm sandboxes (``W``) for each of the last ``kinds`` keys asked for.

    ``make(key)`` starts one (``None``: not now, e.g. no uid free); ``destroy(w)`` removes
    one never used.  One background thread starts them."""

    def __init__(
        self,
        make: Callable[[K], W | None],
        destroy: Callable[[W], None],
        *,
        size: int,
        kinds: int,
    ) -> None:
        self._make = make
        self._destroy = destroy
        self.size = size
        self.kinds = kinds
        self._lock = threading.Condition()
        self._pool: collections.OrderedDict[K, _Kind[W]] = collections.OrderedDict()
        self._paused = 0
        self._steps = 0
        """Steps running now (warm sandboxes are started while there are none)."""
        self._busy = 0
        """Warm sandboxes being started (``drain`` waits for them)."""
        self._closed = False
        self._thread: threading.Thread | None = None

    def claim(self, key: K) -> W | None:
        """A warm sandbox of ``key``'s kind, taken out of the pool, or None (and ``key`` is
        kept warm from now on).  One being started is waited for: it is ready sooner than
        one started now would be."""
        evicted: list[W] = []
        with self._lock:
            if self._closed:
                return None
            kind = self._pool.get(key)
            if kind is None:
                kind = self._pool[key] = _Kind(collections.deque())
                while len(self._pool) > self.kinds:
                    _, old = self._pool.popitem(last=False)
                    evicted += old.ready
            self._pool.move_to_end(key)
            if not kind.ready and kind.starting:
                self._lock.wait_for(lambda: kind.ready or not kind.starting, CLAIM_WAIT_S)
            warm = kind.ready.popleft() if kind.ready else None
            self._start_thread()
            self._lock.notify_all()
        for w in evicted:
            self._destroy(w)
        return warm

    def drain(self) -> int:
        """Destroy every waiting warm sandbox (the pool refills on the next claim)."""
        with self._lock:
            waiting = [w for kind in self._pool.values() for w in kind.ready]
            self._pool.clear()
        for w in waiting:
            self._destroy(w)
        with self._lock:  # one being started now is destroyed when it is (it is not kept)
            self._lock.wait_for(lambda: self._busy == 0, timeout=DRAIN_TIMEOUT_S)
        return len(waiting)

    def wait_full(self, timeout: float) -> bool:
        """Wait until no sandbox is being started and every kind kept warm has its ``size``
        (the benchmark's runs start on a quiet machine); False after ``timeout`` s."""
        with foreground.hurried(), self._lock:
            return self._lock.wait_for(
                lambda: (
                    self._closed
                    or (
                        self._busy == 0
                        and all(len(k.ready) >= self.size for k in self._pool.values())
                    )
                ),
                timeout,
            )

    def step(self) -> _Step:
        """``with pool.step():`` around every step: warm sandboxes are started only while
        no step runs, so their start never takes CPU from a program (it would slow it
        down, and on a loaded host push it past its limits)."""
        return _Step(self)

    def pause(self) -> _Paused:
        """``with pool.pause():`` no warm sandbox is started (the pool's uids are given
        back by ``drain`` and none taken) until the block ends."""
        return _Paused(self)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.drain()

    # --- the filler thread ---------------------------------------------------------------

    def _start_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._fill, name="execbox-warm-sandboxes", daemon=True
            )
            self._thread.start()

    def _wanted(self) -> K | None:
        """The most recently asked kind short of sandboxes (lock held), while idle."""
        if self._closed or self._paused or self._steps:
            return None
        for key in reversed(self._pool):
            kind = self._pool[key]
            if len(kind.ready) + kind.starting < self.size:
                return key
        return None

    def _fill(self) -> None:
        while True:
            with self._lock:
                while self._wanted() is None:
                    if self._closed:
                        return
                    self._lock.wait()
            # after the run in the foreground is answered (a while at most), not alongside
            foreground.wait(time.monotonic())
            with self._lock:
                key = self._wanted()
                if key is None:
                    continue
                kind = self._pool[key]
                kind.starting += 1
                self._busy += 1
            warm: W | None = None
            try:
                warm = self._make(key)
            except Exception:
                log.exception("could not start a warm sandbox")
            with self._lock:
                if warm is not None and self._keeps(key, kind):
                    kind.ready.append(warm)
                    warm = None
                    self._done(kind)
                    continue
            if warm is not None:  # not wanted any more: gone before anyone waits on us
                self._destroy(warm)
            with self._lock:
                self._done(kind)
                if not self._closed:
                    # Nothing started (no uid free, a failure, paused): wait a while or for
                    # the next claim, not in a loop.
                    self._lock.wait(RETRY_AFTER_FAILURE_S)

    def _keeps(self, key: K, kind: _Kind[W]) -> bool:
        return not self._closed and not self._paused and self._pool.get(key) is kind

    def _done(self, kind: _Kind[W]) -> None:
        kind.starting -= 1
        self._busy -= 1
        self._lock.notify_all()


class _Paused:
    def __init__(self, pool: WarmPool[K, W]) -> None:
        self.pool = pool

    def __enter__(self) -> None:
        with self.pool._lock:
            self.pool._paused += 1

    def __exit__(self, *_: object) -> None:
        with self.pool._lock:
            self.pool._paused -= 1
            self.pool._lock.notify_all()


class _Step:
    def __init__(self, pool: WarmPool[K, W]) -> None:
        self.pool = pool

    def __enter__(self) -> None:
        with self.pool._lock:
            self.pool._steps += 1

    def __exit__(self, *_: object) -> None:
        with self.pool._lock:
            self.pool._steps -= 1
            self.pool._lock.notify_all()
