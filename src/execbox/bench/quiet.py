"""Waiting for a process tree to go quiet: the benchmark times one mode's run only after the
background work of the run before it (a sandbox torn down, a warm one started in its place)
is done, so that no mode's timings carry another's.

Quiet means: the CPU time (``/proc/<tid>/schedstat``, nanoseconds) of the process's threads
and of its descendants grew by less than ``QUIET_NS`` over ``WINDOW_S``."""

from __future__ import annotations

import os
import time
from pathlib import Path

WINDOW_S = 0.02
QUIET_NS = 500_000
"""0.5 ms of CPU in a 20 ms window: a sandbox starting or being removed takes more."""
TIMEOUT_S = 10.0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _cpu_ns(pid: int, own_threads: bool) -> dict[int, int]:
    """CPU time by task id: ``pid``'s threads (if ``own_threads``) and every descendant's."""
    times: dict[int, int] = {}
    todo = [pid]
    while todo:
        current = todo.pop()
        if current != pid or own_threads:
            try:
                tasks = list(Path(f"/proc/{current}/task").iterdir())
            except OSError:
                tasks = []
            for task in tasks:
                try:
                    times[int(task.name)] = int((task / "schedstat").read_text().split()[0])
                except (OSError, ValueError, IndexError):
                    continue
        todo += _children(current)
    return times


def wait_quiet(pid: int | None = None, *, own_threads: bool = True) -> bool:
    """Wait until ``pid`` (default: this process; then its own threads are not counted,
    the caller is one of them) and its descendants are quiet; False after ``TIMEOUT_S``."""
    if pid is None:
        pid, own_threads = os.getpid(), False
    deadline = time.monotonic() + TIMEOUT_S
    before = _cpu_ns(pid, own_threads)
    while time.monotonic() < deadline:
        time.sleep(WINDOW_S)
        now = _cpu_ns(pid, own_threads)
        grown = sum(max(0, ns - before.get(tid, 0)) for tid, ns in now.items())
        if grown < QUIET_NS:
            return True
        before = now
    return False
