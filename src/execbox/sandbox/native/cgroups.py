"""One cgroup per sandboxed step: limits in, accounting out, everything killed at the end.

Both hierarchies are supported.  cgroup v1 (this project's CI host) mounts each
controller separately (``cpu`` and ``cpuacct`` may or may not share a mount), so
a step's cgroup is one directory per distinct mount; v2 is one directory.  Run
cgroups live under ``<base>/<name>/<owner>_<step>`` (``<pid>.<start time>``, see
:mod:`execbox.sandbox.leftovers`), where the base is the mount on v1 and, on v2, the
cgroup delegated to execbox (:mod:`execbox.sandbox.native.cgroup2`): the owner prefix lets
a starting process remove what a dead one left behind without touching the runs of another
live execbox process on the same host.

Socket buffers count against the run too.  v2 charges them to ``memory.max``.
v1 charges them only in a cgroup whose ``memory.kmem.tcp.limit_in_bytes`` was
set before the socket was made, to a counter of their own (TCP, UDP and every
other protocol alike), which is capped here at the memory limit.  Neither does
on a kernel booted with ``cgroup.memory=nosocket``, which execbox refuses.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxUnavailable
from execbox.limits import Limits
from execbox.sandbox.leftovers import orphans, owner_tag
from execbox.sandbox.native import cgroup2
from execbox.sandbox.policy import pids_max

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CPU_PERIOD_US = 100_000
# bubblewrap's own process, outside the sandbox, is in the step's cgroup too.
BWRAP_PROCESSES = 1


@dataclass(frozen=True)
class CgroupStats:
    memory_peak_bytes: int
    oom_kills: int
    cpu_time_ns: int


def _write(path: Path | str, value: str) -> None:
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


def _read_int(path: Path, default: int = 0) -> int:
    try:
        return int(_read(path).split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _keyed(path: Path, key: str) -> int:
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
        self._procs = next(iter(dirs.values())) / "cgroup.procs"
        self._cpu_base_ns = 0
        self._peak_fd = -1
        """v2: a ``memory.peak`` descriptor reset when accounting started (its own peak)."""

    def start_accounting(self) -> None:
        """From now on :meth:`stats` counts only what comes next: the program, not the
        sandbox's own setup (bubblewrap's namespaces and mounts, charged to this cgroup
        before the step starts, and for a warm sandbox long before).  CPU time is counted
        from here; the memory peak is reset to what is charged now (v1, and v2 on kernels
        with a resettable ``memory.peak``; an older v2 keeps the whole peak)."""
        if self.version == 2:
            d = self.dirs["memory"]
            self._cpu_base_ns = _keyed(d / "cpu.stat", "usage_usec") * 1000
            with contextlib.suppress(OSError):
                fd = os.open(d / "memory.peak", os.O_RDWR | os.O_CLOEXEC)
                try:
                    os.write(fd, b"reset")  # this descriptor's peak, from now (Linux 6.12+)
                except OSError:
                    os.close(fd)
                else:
                    self._peak_fd = fd
            return
        self._cpu_base_ns = _read_int(self.dirs["cpuacct"] / "cpuacct.usage")
        mem = self.dirs["memory"]
        for name in ("memory.max_usage_in_bytes", "memory.kmem.tcp.max_usage_in_bytes"):
            with contextlib.suppress(OSError):
                _write(mem / name, "0")  # v1: the peak restarts from the usage now

    def directories(self) -> list[Path]:
        """One directory per hierarchy: a process joins the cgroup by joining each."""
        return CgroupTree._distinct(self.dirs.values())

    def pids(self) -> list[int]:
        try:
            return [int(line) for line in _read(self._procs).split()]
        except (OSError, ValueError):
            return []

    def stats(self) -> CgroupStats:
        if self.version == 2:
            d = self.dirs["memory"]
            peak = self._own_peak()
            if peak < 0:
                peak = _read_int(d / "memory.peak", -1)
            if peak < 0:
                peak = _read_int(d / "memory.current")
            return CgroupStats(
                memory_peak_bytes=peak,
                oom_kills=_keyed(d / "memory.events", "oom_kill"),
                cpu_time_ns=self._since_start(_keyed(d / "cpu.stat", "usage_usec") * 1000),
            )
        mem = self.dirs["memory"]
        # v2's memory.peak includes socket buffers; v1 counts them apart.
        sockets = _read_int(mem / "memory.kmem.tcp.max_usage_in_bytes")
        return CgroupStats(
            memory_peak_bytes=_read_int(mem / "memory.max_usage_in_bytes") + sockets,
            oom_kills=_keyed(mem / "memory.oom_control", "oom_kill"),
            cpu_time_ns=self._since_start(_read_int(self.dirs["cpuacct"] / "cpuacct.usage")),
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
        kill_file = self.dirs["memory"] / "cgroup.kill"
        deadline = time.monotonic() + timeout_s
        while True:
            pids = self.pids()
            if not pids:
                return
            if self.version == 2 and kill_file.exists():
                _write(kill_file, "1")
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
        for directory in CgroupTree._distinct(self.dirs.values()):
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


class CgroupTree:
    """Where execbox creates step cgroups on this host, and how."""

    def __init__(
        self,
        version: int,
        roots: dict[str, Path],
        unified: Path | None = None,
        placement: cgroup2.Placement | None = None,
    ) -> None:
        self.version = version
        self.roots = roots
        self.unified = unified
        self.placement = placement  # v2 only: the delegated cgroup the tree lives under
        self.owner = owner_tag()

    @classmethod
    def detect(
        cls,
        name: str = "execbox",
        mounts_file: str = "/proc/self/mounts",
        cmdline_file: str = "/proc/cmdline",
        proc_cgroup: str = "/proc/self/cgroup",
    ) -> CgroupTree:
        """Find the controllers: v1 if its memory controller is mounted, else v2 (under
        this process's delegated cgroup or the root).  Creates nothing."""
        _require_socket_accounting(cmdline_file)
        v1: dict[str, Path] = {}
        v2: Path | None = None
        with open(mounts_file) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) < 4:
                    continue
                mountpoint, fstype, options = fields[1], fields[2], fields[3].split(",")
                if fstype == "cgroup":
                    for controller in V1_CONTROLLERS:
                        if controller in options:
                            v1[controller] = Path(mountpoint)
                elif fstype == "cgroup2" and v2 is None:
                    v2 = Path(mountpoint)
        if all(c in v1 for c in V1_CONTROLLERS):
            return cls(1, {c: v1[c] / name for c in V1_CONTROLLERS}, v2)
        if v2 is not None:
            placement = cgroup2.locate(v2, proc_cgroup)
            if not placement.missing:
                return cls(2, _v2_roots(placement.base / name), v2, placement)
            raise SandboxUnavailable(
                f"cgroup v2: {placement.base} ({placement.how}) lacks the "
                f"{', '.join(placement.missing)} controller(s); "
                f"{cgroup2.missing_controllers_fix(placement)}"
            )
        raise SandboxUnavailable(
            "no usable cgroups: mount cgroup v2 at /sys/fs/cgroup or the v1 memory, cpu, "
            "cpuacct and pids controllers"
        )

    def describe(self) -> str:
        """What ``execbox doctor`` says about the hierarchy found."""
        if self.version == 1 or self.placement is None:
            return f"v1 at {self.roots['memory'].parent} ({', '.join(V1_CONTROLLERS)})"
        how = {
            "root": "the hierarchy's root",
            "delegated": "a cgroup delegated to execbox (Delegate=yes)",
        }.get(self.placement.how, "not delegated")
        if self.placement.how == "not delegated" and cgroup2.SYSTEMD_RUNNING.is_dir():
            how += ": execbox moves into a delegated systemd scope of its own at start"
        return (
            f"v2 at {self.unified}; runs under {self.roots['memory']} in {how}; "
            f"controllers there: {' '.join(self.placement.controllers)}"
        )

    def prepare(self) -> None:
        """Create execbox's subtree (enabling v2 controllers) and remove dead owners' leftovers."""
        try:
            if self.version == 2 and self.unified and self.placement:
                self.placement = cgroup2.claim(self.unified, self.placement)
                self.roots = _v2_roots(self.placement.base / self.roots["memory"].name)
                cgroup2.enable_controllers(self.placement.base)
            for root in self._distinct(self.roots.values()):
                root.mkdir(exist_ok=True)
            if self.version == 2:  # the runs' tree holds no process: no leaf needed
                _write(self.roots["memory"] / "cgroup.subtree_control", "+memory +cpu +pids")
        except OSError as exc:
            raise SandboxUnavailable(
                f"cannot create cgroups under {self.roots['memory']}: {exc} (run as root)"
            ) from exc
        self.remove_stale()

    def favor_dynamic_changes(self) -> bool:
        """Remount the cgroup2 hierarchy with ``favordynmods`` (Linux 6.0+).

        Moving a task into a cgroup takes the kernel's global threadgroup lock for
        writing, which, after a quiet spell, waits a whole RCU grace period: 5-15 ms
        per sandbox here.  ``favordynmods`` keeps that lock ready for writers, at a
        small cost to fork and exit.  The lock is shared by every hierarchy, so the
        option helps v1 controllers too.  Returns whether it is in force.
        """
        if self.unified is None:
            return False
        options: list[str] = []
        with open("/proc/self/mounts") as handle:
            for line in handle:
                fields = line.split()
                if len(fields) > 3 and fields[1] == str(self.unified) and fields[2] == "cgroup2":
                    options = fields[3].split(",")
        if "favordynmods" in options:
            return True
        # A remount resets every option it does not name (systemd's nsdelegate and
        # memory_recursiveprot, nosuid...): name them all, so only favordynmods is added.
        done = subprocess.run(
            [
                "mount",
                "-o",
                ",".join(["remount", *options, "favordynmods"]),
                "none",
                str(self.unified),
            ],
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def remove_stale(self) -> int:
        """Kill and remove step cgroups whose owning process is gone; returns how many."""
        removed = 0
        memory_root = self.roots["memory"]
        entries = [e for e in memory_root.iterdir() if e.is_dir()] if memory_root.is_dir() else []
        for entry in orphans(entries, _owner):
            group = Cgroup(self.version, {c: r / entry.name for c, r in self.roots.items()})
            try:
                group.destroy()
                removed += 1
            except OSError:
                pass
        return removed

    def create(self, step: str, limits: Limits) -> Cgroup:
        name = f"{self.owner}_{step}"
        dirs = {c: r / name for c, r in self.roots.items()}
        group = Cgroup(self.version, dirs)
        try:
            for directory in self._distinct(dirs.values()):
                directory.mkdir()
            self._limit(group, limits)
        except OSError as exc:
            with contextlib.suppress(OSError):
                group.destroy()
            raise SandboxUnavailable(f"cannot set up the cgroup {name}: {exc}") from exc
        return group

    def _limit(self, group: Cgroup, limits: Limits) -> None:
        quota = max(1000, int(limits.cpu_cores * CPU_PERIOD_US))
        d = group.dirs
        if self.version == 2:
            _write(d["memory"] / "memory.max", str(limits.memory_bytes))
            _write(d["memory"] / "memory.swap.max", "0")
            _write(d["cpu"] / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            _write(d["pids"] / "pids.max", str(pids_max(limits) + BWRAP_PROCESSES))
            return
        _write(d["memory"] / "memory.limit_in_bytes", str(limits.memory_bytes))
        # v1 charges socket buffers (TCP, UDP, every protocol) only to a cgroup whose TCP
        # limit was set before the socket was made, and to a counter of their own: without
        # this, loopback sockets hold gigabytes the cgroup never sees.
        _write(d["memory"] / "memory.kmem.tcp.limit_in_bytes", str(limits.memory_bytes))
        memsw = d["memory"] / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            _write(memsw, str(limits.memory_bytes))
        # Not settable on every kernel; memsw (or having no swap) already forbids swapping.
        with contextlib.suppress(OSError):
            _write(d["memory"] / "memory.swappiness", "0")
        _write(d["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        _write(d["cpu"] / "cpu.cfs_quota_us", str(quota))
        _write(d["pids"] / "pids.max", str(pids_max(limits) + BWRAP_PROCESSES))

    @staticmethod
    def _distinct(paths: Iterable[Path]) -> list[Path]:
        seen: dict[Path, None] = {}
        for path in paths:
            seen.setdefault(path, None)
        return list(seen)


def _require_socket_accounting(cmdline_file: str) -> None:
    """Socket buffers count against a run's memory only if the kernel charges them to memory
    cgroups, which ``cgroup.memory=nosocket`` on its command line turns off."""
    try:
        words = Path(cmdline_file).read_text().split()
    except OSError:
        return
    for word in words:
        key, _, value = word.partition("=")
        if key == "cgroup.memory" and "nosocket" in value.split(","):
            raise SandboxUnavailable(
                "the kernel was booted with cgroup.memory=nosocket, so socket buffers would "
                "escape every run's memory limit: remove it from the kernel command line"
            )


def _v2_roots(root: Path) -> dict[str, Path]:
    return {c: root for c in ("memory", "cpu", "cpuacct", "pids")}


def _owner(entry: Path) -> str | None:
    tag, sep, _ = entry.name.partition("_")
    return tag if sep and "." in tag else None
