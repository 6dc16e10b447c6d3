"""The soak: many hello worlds through the HTTP API of an ``execbox serve`` it starts, then
the service's memory and everything a run may leave behind.

The service gets a data dir and a sandbox uid range of its own, so what is counted is its
own: processes of those uids, its cgroups (named after its pid, see
:mod:`execbox.sandbox.leftovers`), mounts under its data dir, run directories, and uids
still leased (their lock held).  Counted twice: while the service still runs (idle after
the last run) and after it stopped.
"""

from __future__ import annotations

import fcntl
import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from execbox.bench.modes import PROGRAMS, BenchError
from execbox.bench.server import BenchServer
from execbox.errors import ExecboxError
from execbox.sandbox.native.cgroups import CgroupTree
from execbox.sandbox.uids import LOCK_DIR
from execbox.settings import Settings

WARM_UP = 20
SETTLE_S = 1.0


@dataclass
class SoakReport:
    runs: int
    failed: int
    seconds: float
    rss_start_mb: float
    rss_end_mb: float
    left_running: dict[str, int] = field(default_factory=dict)
    """What was left while the service still ran, idle."""
    left_stopped: dict[str, int] = field(default_factory=dict)
    """What was left after it stopped."""

    @property
    def clean(self) -> bool:
        return (
            not self.failed
            and not any(self.left_running.values())
            and not any(self.left_stopped.values())
        )


def leftovers(server: BenchServer, settings: Settings, pid: int) -> dict[str, int]:
    """What the service ``pid`` (alive or not) left: counts of each kind."""
    base, count = settings.sandbox_uid_base, settings.sandbox_uid_count
    processes = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
                processes += base <= uid < base + count
    cgroups = 0
    with suppress(ExecboxError):
        for root in CgroupTree.detect(settings.cgroup_name).roots.values():
            if root.is_dir():
                cgroups += sum(1 for p in root.iterdir() if p.name.startswith(f"{pid}."))
    with open("/proc/self/mountinfo") as handle:
        mounts = sum(str(server.data_dir) in line for line in handle)
    runs_dir = server.data_dir / "runs"
    run_dirs = len(list(runs_dir.iterdir())) if runs_dir.is_dir() else 0
    return {
        "processes": processes,
        "cgroups": cgroups,
        "mounts": mounts,
        "run dirs": run_dirs,
        "uids": _leased(base, count),
    }


def _leased(base: int, count: int) -> int:
    """uids of the range whose lease lock someone holds."""
    held = 0
    for uid in range(base, base + count):
        path = LOCK_DIR / str(uid)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held += 1
        finally:
            os.close(fd)
    return held


def soak(
    settings: Settings, *, runs: int, concurrency: int, echo: Callable[[str], None] = print
) -> SoakReport:
    """``runs`` Python hello worlds through ``POST /api/editor/run`` at ``concurrency``."""
    body = {"language": "python", "code": PROGRAMS["python"]}
    failed = 0

    def one(_: int) -> None:
        nonlocal failed
        try:
            answer = server.post(body)
            output = answer.get("output") or {}
            if answer.get("status") != "ok" or output.get("stdout") != "Hello\n":
                failed += 1
        except BenchError:
            failed += 1

    with BenchServer(
        uid_base=settings.sandbox_uid_base, uid_count=settings.sandbox_uid_count
    ) as server:
        pid = server.pid
        for i in range(WARM_UP):
            one(i)
        rss_start = server.rss_mb()
        echo(f"service pid {pid}: {rss_start:.1f} MB after {WARM_UP} warm-up runs")
        started = time.monotonic()
        done = 0
        step = max(1, runs // 10)
        with ThreadPoolExecutor(concurrency) as pool:
            for _ in pool.map(one, range(runs)):
                done += 1
                if done % step == 0 or done == runs:
                    echo(f"  {done:>6} runs, {failed} failed, service {server.rss_mb():.1f} MB")
        seconds = time.monotonic() - started
        time.sleep(SETTLE_S)
        rss_end = server.rss_mb()
        left_running = leftovers(server, settings, pid)
        status = server.stop()
        if status not in (0, -signal.SIGTERM):  # uvicorn ends by re-raising SIGTERM
            echo(f"execbox serve exited with {status}: {server.log_tail(500)}")
        left_stopped = leftovers(server, settings, pid)
    report = SoakReport(runs, failed, seconds, rss_start, rss_end, left_running, left_stopped)
    echo(f"{runs} runs in {seconds:.0f} s at concurrency {concurrency} ({runs / seconds:.1f}/s)")
    echo(f"hello worlds failed: {failed}")
    echo(f"service memory: {rss_start:.1f} MB at start, {rss_end:.1f} MB at end")
    for when, left in (("running", left_running), ("stopped", left_stopped)):
        echo(f"left behind ({when}): " + ", ".join(f"{k} {v}" for k, v in left.items()))
    return report
