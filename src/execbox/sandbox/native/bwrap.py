"""bubblewrap's command line for one kind of sandbox (a :class:`Key`).

Everything on it is fixed when the sandbox starts, before anyone knows what it will run:
the namespaces, the mounts (the prepared root, ``/usr``, the language's read-only binds,
``/proc`` with its masks, size-capped ``/tmp`` and ``/dev/shm``, the run directory at
``/box``), the environment, the seccomp filter, and the init with its status and spec
descriptors.  What runs (argv, rlimits) comes later, through the spec (see ``init.c``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from execbox.limits import Limits
from execbox.sandbox.base import StepSpec
from execbox.sandbox.native import rootfs
from execbox.sandbox.policy import MASKED_PROC_DIRS, MASKED_PROC_FILES

SANDBOX_PATH = "/usr/bin:/bin"
INIT_PATH = "/" + rootfs.INIT


def proc_masks() -> list[str]:
    args: list[str] = []
    for name in MASKED_PROC_FILES:
        path = f"/proc/{name}"
        if os.path.isfile(path) and os.stat(path).st_mode & 0o004:
            args += ["--ro-bind", "/dev/null", path]
    for name in MASKED_PROC_DIRS:
        if os.path.isdir(f"/proc/{name}"):
            args += ["--perms", "0555", "--tmpfs", f"/proc/{name}", "--remount-ro", f"/proc/{name}"]
    return args


PROC_MASKS = proc_masks()


@dataclass(frozen=True)
class Key:
    """A kind of sandbox: what is fixed when it is started (see :mod:`.pool`)."""

    kind: str
    """The step's kind (``compile``, ``run``): it names the cgroup."""
    mounts: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    limits: Limits
    """The step's limits but those given at the start (time, CPU time, output, open files,
    file size)."""

    @classmethod
    def of(cls, step: StepSpec) -> Key:
        fixed = replace(
            step.limits, time_s=0, cpu_time_s=0, output_bytes=0, open_files=0, file_bytes=0
        )
        return cls(step.kind, step.mounts, tuple(sorted(step.env.items())), fixed)


def command(bwrap: str, key: Key, root: Path, run_dir: Path, fds: dict[str, int]) -> list[str]:
    """bubblewrap's argv for a sandbox of ``key``'s kind: ``root`` the prepared root,
    ``run_dir`` the run directory, ``fds`` the descriptors it gets (json, block, status,
    spec, seccomp)."""
    limits = key.limits
    cmd = [
        bwrap,
        # The network namespace is made inside the sandbox's user namespace: fresh for
        # every step (no socket state of an earlier run) and, not being owned by the
        # host's, deaf to the host's device events (uevents).
        "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net",
        "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session", "--as-pid-1",
        "--uid", str(rootfs.SANDBOX_UID), "--gid", str(rootfs.SANDBOX_UID),
        "--hostname", rootfs.HOSTNAME,
        # The prepared root (links, /etc, /dev nodes, init), then the host's /usr.
        "--dev-bind", str(root), "/",
        "--ro-bind", "/usr", "/usr",
        # Hides the host's /usr/local; read-only once the language's mounts are in place.
        "--perms", "0755", "--tmpfs", "/usr/local",
    ]  # fmt: skip
    for mount in key.mounts:
        cmd += ["--ro-bind", mount, mount]
    cmd += [
        "--remount-ro", "/usr/local",
        "--proc", "/proc", *PROC_MASKS,
        "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
        "--bind", str(run_dir), rootfs.WORKDIR,
        "--remount-ro", "/",
        # Remounting / read-only also made it nodev: /dev gets a bind of its own, of
        # the launcher's read-only /dev (see launch.c).
        "--dev-bind", str(root / "dev"), "/dev",
        "--size", str(limits.tmp_bytes), "--tmpfs", "/dev/shm",
        "--chdir", rootfs.WORKDIR,
        "--clearenv",
        "--setenv", "PATH", SANDBOX_PATH,
        "--setenv", "HOME", rootfs.WORKDIR,
        "--setenv", "LANG", "C.UTF-8",
    ]  # fmt: skip
    for name, value in key.env:
        cmd += ["--setenv", name, value]
    if "seccomp" in fds:
        cmd += ["--seccomp", str(fds["seccomp"])]
    cmd += [
        "--json-status-fd", str(fds["json"]),
        "--block-fd", str(fds["block"]),
        "--",
        INIT_PATH, str(fds["status"]), str(fds["spec"]),
    ]  # fmt: skip
    return cmd
