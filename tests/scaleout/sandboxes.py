"""What the sandboxes of a scale-out test leave on this machine, seen from the host.

A test program's argument is a token of its own, so each attempt at running it is a
process whose command line carries the token: counting the distinct processes (pid and
start time) that ever carried it counts the attempts, and finding none after a worker
died proves its program died with it.  Leftovers are what a killed worker could not
remove: its cgroups (under this session's cgroup name), its run directories and their
mounts (under its host's data directory), all named after their dead owner.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from execbox.sandbox.leftovers import owner_alive, process_start
from tests.host_processes import process_uid


def _cmdline(pid: str) -> list[str]:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().decode(errors="replace").split("\0")
    except OSError:
        return []


def _dead(pid: str) -> bool:
    """Gone, or a zombie: exited and not yet reaped (this host's pid 1, which inherits
    orphans, reaps slowly)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return True
    return stat[stat.rindex(b")") + 2 :][:1] in (b"Z", b"X")


def programs_with(token: str, uid_range: range | None = None) -> set[str]:
    """The processes (``pid.start``) running a program with ``token`` among its arguments
    (and, if given, as a uid of ``uid_range``: the sandbox user of a run)."""
    found = set()
    for entry in Path("/proc").iterdir():
        pid = entry.name
        if pid.isdigit() and token in _cmdline(pid)[1:]:
            uid = process_uid(pid)
            if uid_range is None or uid in uid_range:
                found.add(f"{pid}.{process_start(int(pid))}")
    return found


class AttemptCounter:
    """Watches ``/proc`` in a thread: every distinct process that ever ran the token's
    program, with the host uid it ran as (which tells the host whose sandbox ran it)."""

    def __init__(self, token: str, interval: float = 0.05) -> None:
        self.token = token
        self.seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            for tag in programs_with(self.token):
                pid = tag.partition(".")[0]
                argv, uid = _cmdline(pid), process_uid(pid)
                # The interpreter, not the sandbox's init, which may carry the argv too.
                if argv and os.path.basename(argv[0]).startswith("python") and uid is not None:
                    with self._lock:
                        self.seen.setdefault(tag, uid)
            self._stop.wait(self._interval)

    def attempts(self) -> dict[str, int]:
        """``pid.start`` -> host uid of every attempt seen so far."""
        with self._lock:
            return dict(self.seen)

    def running(self) -> dict[str, int]:
        """The attempts alive now (a zombie is not)."""
        return {
            tag: uid
            for tag, uid in self.attempts().items()
            if owner_alive(tag) and not _dead(tag.partition(".")[0])
        }

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def cgroup_leftovers(cgroup_name: str) -> list[Path]:
    """Cgroups under ``cgroup_name`` (in every hierarchy) whose owner is gone."""
    found = []
    for root in {
        *Path("/sys/fs/cgroup").glob(f"*/{cgroup_name}"),
        Path("/sys/fs/cgroup") / cgroup_name,
    }:
        if root.is_dir():
            for entry in root.iterdir():
                if entry.is_dir() and not owner_alive(entry.name.partition("_")[0]):
                    found.append(entry)
    return found


def rundir_leftovers(data_dir: Path) -> list[Path]:
    """Run directories under ``data_dir`` whose owner is gone."""
    runs = data_dir / "runs"
    if not runs.is_dir():
        return []
    return [e for e in runs.iterdir() if not owner_alive(e.name.partition("_")[0])]


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(str(path) + "/")]


def mount_leftovers(data_dir: Path) -> list[str]:
    """Mounts under ``data_dir`` but a run directory whose owner still runs (a living
    worker's sandboxes, those started ahead of time included)."""
    runs = str(data_dir / "runs") + "/"
    return [
        point
        for point in mounts_under(data_dir)
        if not (
            point.startswith(runs)
            and "/" not in point[len(runs) :]
            and owner_alive(point[len(runs) :].partition("_")[0])
        )
    ]
