"""Where a host's step cgroups go, and making one with its limits (one cgroup per sandboxed
step; the step's own cgroup, its accounting and its end: :mod:`.stepcgroup`).

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
import subprocess
from collections.abc import Iterable
from pathlib import Path

from execbox.errors import SandboxUnavailable
from execbox.limits import Limits
from execbox.sandbox.leftovers import orphans, owner_tag
from execbox.sandbox.native import cgroup2
from execbox.sandbox.native.stepcgroup import Cgroup, CgroupStats, distinct, write_value
from execbox.sandbox.policy import pids_max

__all__ = ["Cgroup", "CgroupStats", "CgroupTree"]

V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "pids")
CPU_PERIOD_US = 100_000
# The builder's own process, outside the sandbox, is in the step's cgroup too.
BWRAP_PROCESSES = 1


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
                write_value(self.roots["memory"] / "cgroup.subtree_control", "+memory +cpu +pids")
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
            write_value(d["memory"] / "memory.max", str(limits.memory_bytes))
            write_value(d["memory"] / "memory.swap.max", "0")
            write_value(d["cpu"] / "cpu.max", f"{quota} {CPU_PERIOD_US}")
            write_value(d["pids"] / "pids.max", str(pids_max(limits) + BWRAP_PROCESSES))
            return
        write_value(d["memory"] / "memory.limit_in_bytes", str(limits.memory_bytes))
        # v1 charges socket buffers (TCP, UDP, every protocol) only to a cgroup whose TCP
        # limit was set before the socket was made, and to a counter of their own: without
        # this, loopback sockets hold gigabytes the cgroup never sees.
        write_value(d["memory"] / "memory.kmem.tcp.limit_in_bytes", str(limits.memory_bytes))
        memsw = d["memory"] / "memory.memsw.limit_in_bytes"
        if memsw.exists():
            write_value(memsw, str(limits.memory_bytes))
        # Not settable on every kernel; memsw (or having no swap) already forbids swapping.
        with contextlib.suppress(OSError):
            write_value(d["memory"] / "memory.swappiness", "0")
        write_value(d["cpu"] / "cpu.cfs_period_us", str(CPU_PERIOD_US))
        write_value(d["cpu"] / "cpu.cfs_quota_us", str(quota))
        write_value(d["pids"] / "pids.max", str(pids_max(limits) + BWRAP_PROCESSES))

    @staticmethod
    def _distinct(paths: Iterable[Path]) -> list[Path]:
        return distinct(paths)


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
