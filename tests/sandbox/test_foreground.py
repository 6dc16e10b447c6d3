"""A run in the foreground holds the native backend's background work (teardowns, warm
sandboxes started) off until it is answered, for ``MAX_DEFER_S`` at most; someone waiting
for that work (a settle) is not kept waiting by it."""

from __future__ import annotations

import threading
import time

from execbox import foreground
from execbox.foreground import MAX_DEFER_S
from execbox.sandbox.native.pool import WarmPool
from execbox.sandbox.native.teardown import Teardowns


def test_a_teardown_handed_in_during_a_run_waits_for_its_answer() -> None:
    teardowns = Teardowns()
    done = threading.Event()
    with foreground.held():
        teardowns.submit("a step", done.set)
        time.sleep(MAX_DEFER_S / 5)
        assert not done.is_set()  # the run is not answered yet: nothing of it torn down
        answered = time.monotonic()
    assert done.wait(5)
    assert teardowns.settle(5)
    assert time.monotonic() - answered < MAX_DEFER_S  # at once after the answer


def test_under_steady_load_a_teardown_still_runs_by_its_deadline() -> None:
    teardowns = Teardowns()
    done = threading.Event()
    with foreground.held():
        handed = time.monotonic()
        teardowns.submit("a step", done.set)
        assert done.wait(5)  # while the foreground never ends
        waited = time.monotonic() - handed
    assert MAX_DEFER_S * 0.9 <= waited < 5


def test_settle_does_not_wait_for_the_foreground() -> None:
    teardowns = Teardowns()
    done: list[str] = []
    with foreground.held():
        teardowns.submit("a step", lambda: done.append("gone"))
        # the deadline is far off for a settle to wait on: it hurries the work instead
        started = time.monotonic()
        assert teardowns.settle(5)
        assert done == ["gone"]
        assert time.monotonic() - started < MAX_DEFER_S


def test_a_warm_sandbox_is_started_after_the_claiming_run_is_answered() -> None:
    made: list[float] = []

    def make(_key: str) -> float:
        made.append(time.monotonic())
        return made[-1]

    pool: WarmPool[str, float] = WarmPool(make, lambda _w: None, size=1, kinds=1)
    try:
        with foreground.held():
            assert pool.claim("python") is None  # the first claim: kept warm from now on
            time.sleep(MAX_DEFER_S / 5)
            assert made == []  # not alongside the run
            answered = time.monotonic()
        assert pool.wait_full(5)
        assert len(made) == 1 and made[0] >= answered
        assert pool.claim("python") == made[0]  # and it is there for the next run
    finally:
        pool.close()
