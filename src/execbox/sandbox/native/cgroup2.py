"""Where execbox's cgroups go on a cgroup-v2 host, and the no-internal-processes rule.

On v2 a process may create cgroups only in a subtree it was given:

* the hierarchy's root: this process's cgroup is ``/`` (no systemd, a tiny init, or a
  container with its own cgroup namespace);
* a delegated cgroup: a systemd unit with ``Delegate=yes`` (systemd marks it with the
  ``trusted.delegate`` extended attribute), such as execbox's own service unit;
* under systemd without delegation, execbox asks systemd for a transient scope of its
  own with ``Delegate=yes`` and moves itself there (``execbox-<pid>.scope``, collected by
  systemd when the process ends).

The no-internal-processes rule: a cgroup other than the root may enable controllers for
its children only while it holds no process.  So before enabling them, every process of
the base cgroup moves into a leaf, ``<base>/execbox-service``, beside the runs' tree
``<base>/<name>``.
"""

from __future__ import annotations

import errno
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxUnavailable

LEAF = "execbox-service"
CONTROLLERS = ("memory", "cpu", "pids")
SYSTEMD_RUNNING = Path("/run/systemd/system")
SYSTEMD_PRIVATE = "/run/systemd/private"


@dataclass(frozen=True)
class Placement:
    """The cgroup execbox's tree lives under, and what it may use there."""

    base: Path
    how: str  # "root", "delegated", "not delegated" (for doctor and error messages)
    controllers: tuple[str, ...]  # enabled for ``base`` by its parent

    @property
    def missing(self) -> list[str]:
        return [c for c in CONTROLLERS if c not in self.controllers]


def own_cgroup(proc_cgroup: str = "/proc/self/cgroup") -> str:
    """This process's v2 cgroup path (``0::<path>``), ``/`` if it has none."""
    try:
        with open(proc_cgroup) as handle:
            for line in handle:
                if line.startswith("0::"):
                    return line[3:].strip() or "/"
    except OSError:
        pass
    return "/"


def is_delegated(path: Path) -> bool:
    for attribute in ("trusted.delegate", "user.delegate"):
        try:
            if os.getxattr(path, attribute) == b"1":
                return True
        except OSError:
            continue
    return False


def locate(mount: Path, proc_cgroup: str = "/proc/self/cgroup") -> Placement:
    """Where this process's tree goes (read-only: nothing is created or moved)."""
    relative = own_cgroup(proc_cgroup)
    base = mount / relative.lstrip("/")
    if base.name == LEAF:  # execbox already moved this process into its leaf
        base = base.parent
    if base == mount:
        how = "root"
    elif is_delegated(base):
        how = "delegated"
    else:
        how = "not delegated"
    try:
        controllers = tuple((base / "cgroup.controllers").read_text().split())
    except OSError:
        controllers = ()
    return Placement(base, how, controllers)


def missing_controllers_fix(placement: Placement) -> str:
    if placement.how == "root":
        return "boot with the memory, cpu and pids controllers enabled (no cgroup_disable=)"
    return (
        f"enable {' '.join(placement.missing)} for {placement.base}: in execbox's systemd "
        "unit set Delegate=yes (or Delegate=memory cpu pids), or have the parent cgroup's "
        f"manager write '+{' +'.join(placement.missing)}' to its cgroup.subtree_control"
    )


def claim(mount: Path, placement: Placement) -> Placement:
    """Make sure execbox may create cgroups under the placement's base: under systemd
    without delegation, move into a delegated scope of its own first."""
    if placement.how != "not delegated" or not SYSTEMD_RUNNING.is_dir():
        return placement
    unit = f"execbox-{os.getpid()}.scope"
    # systemd's private socket (root only): no D-Bus daemon needed.
    argv = [
        "busctl", f"--address=unix:path={SYSTEMD_PRIVATE}", "call", "--quiet",
        "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
        "org.freedesktop.systemd1.Manager", "StartTransientUnit", "ssa(sv)a(sa(sv))",
        unit, "fail", "3",
        "PIDs", "au", "1", str(os.getpid()),
        "Delegate", "b", "true",
        "CollectMode", "s", "inactive-or-failed",
        "0",
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)
    if done.returncode != 0:
        raise SandboxUnavailable(
            f"{placement.base} is not delegated to execbox and systemd refused a delegated "
            f"scope ({done.stderr.strip()}): run execbox in a unit with Delegate=yes"
        )
    deadline = time.monotonic() + 10
    while not own_cgroup().endswith("/" + unit):
        if time.monotonic() > deadline:
            raise SandboxUnavailable(f"systemd did not move execbox into {unit}")
        time.sleep(0.01)
    return locate(mount)


def enable_controllers(base: Path, leaf: str = LEAF) -> None:
    """Enable execbox's controllers for ``base``'s children, first moving every process
    of ``base`` into ``base/leaf`` when the no-internal-processes rule demands it."""
    wanted = " ".join(f"+{c}" for c in CONTROLLERS)
    try:
        _write(base / "cgroup.subtree_control", wanted)
        return
    except OSError as exc:
        if exc.errno != errno.EBUSY:
            raise
    (base / leaf).mkdir(exist_ok=True)
    # Processes may fork while they move: repeat until the base is empty.
    for _ in range(100):
        pids = (base / "cgroup.procs").read_text().split()
        if not pids:
            break
        for pid in pids:
            try:
                _write(base / leaf / "cgroup.procs", pid)
            except ProcessLookupError:
                pass
            except OSError as exc:
                if exc.errno != errno.ESRCH:
                    raise
    _write(base / "cgroup.subtree_control", wanted)


def _write(path: Path, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)
