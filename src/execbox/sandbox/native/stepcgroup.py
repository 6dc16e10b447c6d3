"""A step's cgroup: the limits' directories (one per v1 mount, or one v2 directory), what it
counts from the step's start (CPU time, peak memory, OOM kills), and its end (every process
killed, the directories removed).  :class:`execbox.sandbox.native.cgroups.CgroupTree`
makes them."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CgroupStats:
    memory_peak_bytes: int
    oom_kills: int
    cpu_time_ns: int


def write_value(path: Path | str, value: str) -> None:
    """Write ``value`` to a cgroup file."""
    # os-level calls: this runs a dozen times per sandbox, on the latency path.
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _read(path: Path | str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 65536).decode()
    finally:
        os.close(fd)


def _read_int(path: Path | str, default: int = 0) -> int:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _keyed(path: Path | str, key: str) -> int:
    """A value from a flat keyed file such as ``memory.events`` or ``cpu.stat``."""
    try:
        for line in _read(path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


class Cgroup:
    """A step's cgroup (one directory per v1 mount, or one v2 directory)."""

    def __init__(self, version: int, dirs: dict[str, Path]) -> None:
        self.version = version
        self.dirs = dirs
        self._procs = f"{next(iter(dirs.values()))}/cgroup.procs"
        mem = dirs["memory"]
        # Paths as strings, made once: they are read and written on every step's path.
        self._cpu = f"{mem}/cpu.stat" if version == 2 else f"{dirs['cpuacct']}/cpuacct.usage"
        self._peak = f"{mem}/memory.peak" if version == 2 else f"{mem}/memory.max_usage_in_bytes"
        self._tcp_peak = f"{mem}/memory.kmem.tcp.max_usage_in_bytes"
        self._events = f"{mem}/memory.events" if version == 2 else f"{mem}/memory.oom_control"
        self._kill = f"{mem}/cgroup.kill" if version == 2 else ""
        self._cpu_base_ns = 0
        self._peak_fd = -1
        """v2: a ``memory.peak`` descriptor reset when accounting started (its own peak)."""

    def start_accounting(self) -> None:
        """From now on :meth:`stats` counts only what comes next: the program, not the
        sandbox's own setup (the builder's namespaces and mounts, charged to this cgroup
        before the step starts, and for a warm sandbox long before).  CPU time is counted
        from here; the memory peak is reset to what is charged now (v1, and v2 on kernels
        with a resettable ``memory.peak``; an older v2 keeps the whole peak)."""
        if self.version == 2:
            self._cpu_base_ns = _keyed(self._cpu, "usage_usec") * 1000
            with contextlib.suppress(OSError):
                fd = os.open(self._peak, os.O_RDWR | os.O_CLOEXEC)
                try:
                    os.write(fd, b"reset")  # this descriptor's peak, from now (Linux 6.12+)
                except OSError:
                    os.close(fd)
                else:
                    self._peak_fd = fd
            return
        self._cpu_base_ns = _read_int(self._cpu)
        for peak in (self._peak, self._tcp_peak):
            with contextlib.suppress(OSError):
                write_value(peak, "0")  # v1: the peak restarts from the usage now

    def directories(self) -> list[Path]:
        """One directory per hierarchy: a process joins the cgroup by joining each."""
        return distinct(self.dirs.values())

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in _read(self._procs).split()]
        except (OSError, ValueError):
            return []

    def stats(self) -> CgroupStats:
        if self.version == 2:
            peak = self._own_peak()
            if peak < 0:
                peak = _read_int(self._peak, -1)
            if peak < 0:
                peak = _read_int(self.dirs["memory"] / "memory.current")
            return CgroupStats(
                memory_peak_bytes=peak,
                oom_kills=_keyed(self._events, "oom_kill"),
                cpu_time_ns=self._since_start(_keyed(self._cpu, "usage_usec") * 1000),
            )
        # v2's memory.peak includes socket buffers; v1 counts them apart.
        sockets = _read_int(self._tcp_peak)
        return CgroupStats(
            memory_peak_bytes=_read_int(self._peak) + sockets,
            oom_kills=_keyed(self._events, "oom_kill"),
            cpu_time_ns=self._since_start(_read_int(self._cpu)),
        )

    def _since_start(self, usage_ns: int) -> int:
        return max(0, usage_ns - self._cpu_base_ns)

    def _own_peak(self) -> int:
        """The peak since :meth:`start_accounting` through its descriptor (v2), or -1."""
        if self._peak_fd < 0:
            return -1
        try:
            return int(os.pread(self._peak_fd, 64, 0).split()[0])
        except (OSError, ValueError, IndexError):
            return -1
        finally:
            self._close_peak()

    def _close_peak(self) -> None:
        if self._peak_fd >= 0:
            close_fd, self._peak_fd = self._peak_fd, -1
            os.close(close_fd)

    def kill(self, timeout_s: float = 5.0) -> None:
        """SIGKILL every process in the cgroup until none is left."""
        kill_file = self._kill if self._kill and os.path.exists(self._kill) else ""
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return
            if kill_file:
                write_value(kill_file, "1")
            else:
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                return
            time.sleep(0.001)

    def destroy(self) -> None:
        """Kill what is left and remove the directories (retrying while the kernel lets go)."""
        self._close_peak()
        self.kill()
        for directory in distinct(self.dirs.values()):
            _rmdir_retry(directory)


def _rmdir_retry(directory: Path, timeout_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            directory.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError as exc:
            if exc.errno != errno.EBUSY or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def distinct(paths: Iterable[Path]) -> list[Path]:
    """``paths`` without repeats, in order (v1's ``cpu`` and ``cpuacct`` may share a mount)."""
    seen: dict[Path, None] = {}
    for path in paths:
        seen.setdefault(path, None)
    return list(seen)
