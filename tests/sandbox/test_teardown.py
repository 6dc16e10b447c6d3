"""The background teardown of native sandboxes: in order, bounded, failures logged, and
``settle`` waits for all of it (the sandboxes themselves: the ``leftovers`` fixture)."""

from __future__ import annotations

import functools
import logging
import threading

import pytest

from execbox.sandbox.native.teardown import Teardowns


def test_teardowns_run_in_the_order_handed_in_and_settle_waits_for_them() -> None:
    teardowns = Teardowns()
    gate = threading.Event()
    done: list[int] = []

    def first() -> None:
        gate.wait(10)
        done.append(1)

    teardowns.submit("first", first)
    for n in (2, 3, 4):
        teardowns.submit(f"step {n}", functools.partial(done.append, n))
    assert teardowns.pending == 4
    assert not teardowns.settle(timeout_s=0.05)  # the first one is still held
    gate.set()
    assert teardowns.settle(timeout_s=10)
    assert done == [1, 2, 3, 4]
    assert teardowns.pending == 0


def test_a_failed_teardown_is_logged_and_the_next_one_still_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    teardowns = Teardowns()
    done: list[str] = []

    def fail() -> None:
        raise OSError("device busy")

    with caplog.at_level(logging.ERROR, logger="execbox.sandbox.native.teardown"):
        teardowns.submit("the run step of run r1", fail)
        teardowns.submit("the workspace of run r1", lambda: done.append("workspace"))
        assert teardowns.settle(timeout_s=10)
    assert done == ["workspace"]
    assert "could not tear down the run step of run r1" in caplog.text
    assert "device busy" in caplog.text


def test_no_more_than_the_limit_wait_a_step_handing_in_one_more_waits_for_room() -> None:
    teardowns = Teardowns(limit=2)
    gate = threading.Event()
    teardowns.submit("held", lambda: gate.wait(10))
    teardowns.submit("next", lambda: None)
    third = threading.Thread(target=teardowns.submit, args=("third", lambda: None))
    third.start()
    third.join(0.1)
    assert third.is_alive()  # no room: it waits
    assert teardowns.pending == 2
    gate.set()
    third.join(10)
    assert not third.is_alive()
    assert teardowns.settle(timeout_s=10)
