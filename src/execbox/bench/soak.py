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

    warm_allowed: int = 0
    """Sandboxes started ahead of time that may wait while the service runs."""

    @property
    def clean(self) -> bool:
        running = {k: v for k, v in self.left_running.items() if not k.startswith("warm")}
        return (
            not self.failed
            and not any(running.values())
            and self.left_running.get("warm sandboxes", 0) <= self.warm_allowed
            and not any(self.left_stopped.values())
        )


WARM = "_warm-"
"""In the name of a warm sandbox's run directory and cgroup (see sandbox/native/pool.py)."""


def leftovers(server: BenchServer, settings: Settings, pid: int) -> dict[str, int]:
    """What the service ``pid`` (alive or not) left: counts of each kind, sandboxes started
    ahead of time apart (``warm ...``: what they hold while they wait)."""
    base, count = settings.sandbox_uid_base, settings.sandbox_uid_count
    runs_dir = server.data_dir / "runs"
    entries = list(runs_dir.iterdir()) if runs_dir.is_dir() else []
    warm_dirs = [e for e in entries if WARM in e.name]
    warm_uids = set()
    for entry in warm_dirs:
        with suppress(OSError):
            warm_uids.add(entry.stat().st_uid)
    processes = warm_processes = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
                if base <= uid < base + count:
                    if uid in warm_uids:
                        warm_processes += 1
                    else:
                        processes += 1
    cgroups = warm_cgroups = 0
    with suppress(ExecboxError):
        for root in set(CgroupTree.detect(settings.cgroup_name).roots.values()):
            if root.is_dir():
                for group in root.iterdir():
                    if group.name.startswith(f"{pid}."):
                        if WARM in group.name:
                            warm_cgroups += 1
                        else:
                            cgroups += 1
    mounts = warm_mounts = 0
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            if str(server.data_dir) in line:
                if WARM in line:
                    warm_mounts += 1
                else:
                    mounts += 1
    leased = _leased(base, count)
    return {
        "processes": processes,
        "cgroups": cgroups,
        "mounts": mounts,
        "run dirs": len(entries) - len(warm_dirs),
        "uids": leased - len(warm_uids & set(range(base, base + count))),
        "warm sandboxes": len(warm_dirs),
        "warm processes": warm_processes,
        "warm cgroups": warm_cgroups,
        "warm mounts": warm_mounts,
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
    report.warm_allowed = settings.warm_sandboxes * settings.warm_sandbox_kinds
    echo(f"{runs} runs in {seconds:.0f} s at concurrency {concurrency} ({runs / seconds:.1f}/s)")
    echo(f"hello worlds failed: {failed}")
    echo(f"service memory: {rss_start:.1f} MB at start, {rss_end:.1f} MB at end")
    for when, left in (("running", left_running), ("stopped", left_stopped)):
        gone = ", ".join(f"{k} {v}" for k, v in left.items() if not k.startswith("warm"))
        warm = ", ".join(
            f"{k.split()[1]} {left[k]}" for k in ("warm processes", "warm cgroups", "warm mounts")
        )
        echo(f"left behind ({when}): {gone}")
        echo(f"  started ahead of time, waiting ({when}): {left['warm sandboxes']} ({warm})")
    echo(f"  (at most {report.warm_allowed} may wait while the service runs)")
    return report
