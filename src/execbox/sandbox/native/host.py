"""What the native backend needs of the host: checked (``execbox doctor``), and set up
once per process before its first step.

It needs root (to make cgroups and lend uids), a cgroup tree of its own, user
namespaces, a data dir the sandbox users can traverse to their run directories, and the
static init, launcher and sandbox builder (built into the data dir; bubblewrap instead
of the builder when ``sandbox_builder`` says so).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxUnavailable
from execbox.sandbox import rundir
from execbox.sandbox.base import Check
from execbox.sandbox.initbin import c_compiler, static_binary
from execbox.sandbox.native import rootfs
from execbox.sandbox.native.cgroups import CgroupTree
from execbox.settings import Settings

INIT_SOURCE = Path(__file__).with_name("init.c")
LAUNCH_SOURCE = Path(__file__).with_name("launch.c")
SANDBOX_SOURCE = Path(__file__).with_name("sandbox.c")


@dataclass(frozen=True)
class Host:
    """The host, set up: what every step's sandbox is started with."""

    cgroups: CgroupTree
    builder: str
    """What builds each sandbox: execbox-sandbox or bubblewrap (one command line)."""
    init: Path
    """execbox-init, the sandbox's PID 1."""
    launcher: Path
    """execbox-launch, which starts the builder in a step's cgroup as the run's uid."""
    device_nodes: bool
    """Device nodes can be made in a prepared root's ``/dev`` (else the host's are bound)."""


def prepare(settings: Settings) -> Host:
    """Set the host up for ``settings`` (idempotent; stale run directories removed), or
    :class:`SandboxUnavailable` saying what is missing."""
    if os.geteuid() != 0:
        raise SandboxUnavailable("the native sandbox needs root (to create cgroups and lend uids)")
    if settings.sandbox_builder == "bubblewrap" and shutil.which(settings.bwrap_path) is None:
        raise SandboxUnavailable("bubblewrap is not installed: apt-get install bubblewrap")
    tree = CgroupTree.detect(settings.cgroup_name)
    tree.prepare()
    if settings.cgroup_favor_dynmods:
        tree.favor_dynamic_changes()
    _traversable(settings.data_dir)
    settings.runs_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.runs_dir, 0o711)
    rundir.remove_stale(settings.runs_dir)
    init = static_binary(INIT_SOURCE, settings.data_dir, "execbox-init")
    launcher = static_binary(LAUNCH_SOURCE, settings.data_dir, "execbox-launch")
    if settings.sandbox_builder == "execbox":
        builder = str(static_binary(SANDBOX_SOURCE, settings.data_dir, "execbox-sandbox"))
    else:
        builder = shutil.which(settings.bwrap_path) or settings.bwrap_path
    device_nodes = rootfs.device_nodes_allowed(settings.data_dir)
    return Host(tree, builder, init, launcher, device_nodes)


def checks(settings: Settings) -> Iterator[Check]:
    """What ``execbox doctor`` reports of this host for the native backend."""
    if settings.sandbox_builder == "bubblewrap":
        bwrap = shutil.which(settings.bwrap_path)
        yield Check(
            "bubblewrap",
            bwrap is not None,
            bwrap or "not found",
            "apt-get install bubblewrap",
        )
    else:
        compiler = c_compiler()
        yield Check(
            "sandbox builder",
            compiler is not None,
            f"execbox-sandbox, built with {compiler}" if compiler else "no C compiler",
            "apt-get install musl-tools (or gcc)",
        )
    yield Check("root", os.geteuid() == 0, f"euid {os.geteuid()}", "run execbox as root")
    try:
        tree = CgroupTree.detect(settings.cgroup_name)
        yield Check("cgroups", True, tree.describe())
        if settings.cgroup_favor_dynmods:
            fast = tree.favor_dynamic_changes()
            yield Check(
                "fast cgroup moves",
                fast,
                "favordynmods on" if fast else "cgroup2 favordynmods unavailable (slower starts)",
                "Linux 6.0+ with a cgroup2 mount, or set EXECBOX_CGROUP_FAVOR_DYNMODS=false",
            )
    except SandboxUnavailable as exc:
        yield Check("cgroups", False, str(exc), "mount cgroups (see the message)")
    try:
        userns = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        userns = 0
    yield Check(
        "user namespaces",
        userns > 0,
        f"max_user_namespaces={userns}",
        "sysctl -w user.max_user_namespaces=15000",
    )


def _traversable(data_dir: Path) -> None:
    """The sandbox user must reach the run directory, init and /etc by path: make the data
    dir traversable (not listable) and check its parents."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o711)  # traversable, not listable
    for parent in data_dir.parents:
        if not os.stat(parent).st_mode & 0o001:
            raise SandboxUnavailable(
                f"{parent} is not traversable by other users, so sandboxes cannot reach "
                f"the data dir {data_dir}: chmod o+x {parent} or set EXECBOX_DATA_DIR elsewhere"
            )
