"""The native backend: bubblewrap namespaces + execbox's own cgroups, no daemon.

Theory of operation, for one step:

1. A cgroup is made for the step with its memory (no swap), CPU and PIDs limits.
2. execbox-launch (``launch.c``) joins the cgroup, makes the prepared ``/dev``
   read-only in a private mount namespace, and starts bubblewrap *as the run's
   unprivileged host uid* (so the sandbox user maps to that uid, never to root)
   with fresh user, PID, mount, network, IPC, UTS and cgroup namespaces (the
   last rooted at the step's cgroup), a read-only root holding ``/usr`` and a
   generated ``/etc``, the run directory at ``/box``, size-capped ``/tmp`` and
   ``/dev/shm``, and ``--block-fd``: its sandbox process stops just before
   running anything.  Nothing of bubblewrap or the sandbox runs outside the cgroup.
3. bubblewrap reports that process's pid; the host opens a pidfd on it, then
   unblocks it.
4. execbox-init (``init.c``) runs as PID 1, sets rlimits, runs the program and
   reports its raw wait status; the host reads stdout/stderr as they come,
   enforcing the output cap while reading, against a wall-clock deadline.
5. Whatever happened, the whole cgroup is killed and removed in ``finally``;
   the host never waits on pipes held by leftovers.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxError, SandboxUnavailable
from execbox.languages.registry import HOST_PATH, Language
from execbox.limits import Limits
from execbox.sandbox import rundir
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace
from execbox.sandbox.boundary import sandbox_boundary
from execbox.sandbox.initbin import static_binary
from execbox.sandbox.native import rootfs, seccomp
from execbox.sandbox.native.cgroups import Cgroup, CgroupTree
from execbox.sandbox.native.supervise import (
    close_fd,
    close_quiet,
    drain_now,
    kill_pidfd,
    read_child_pid,
    reap,
    supervise,
    write_all,
)
from execbox.sandbox.policy import MASKED_PROC_DIRS, MASKED_PROC_FILES, cpu_rlimit
from execbox.sandbox.uids import Lease, UidPool
from execbox.settings import Settings

SANDBOX_PATH = "/usr/bin:/bin"
INIT_PATH = "/" + rootfs.INIT
INIT_SOURCE = Path(__file__).with_name("init.c")
LAUNCH_SOURCE = Path(__file__).with_name("launch.c")


def _proc_masks() -> list[str]:
    args: list[str] = []
    for name in MASKED_PROC_FILES:
        path = f"/proc/{name}"
        if os.path.isfile(path) and os.stat(path).st_mode & 0o004:
            args += ["--ro-bind", "/dev/null", path]
    for name in MASKED_PROC_DIRS:
        if os.path.isdir(f"/proc/{name}"):
            args += ["--perms", "0555", "--tmpfs", f"/proc/{name}", "--remount-ro", f"/proc/{name}"]
    return args


_PROC_MASKS = _proc_masks()


@dataclass
class _NativeWorkspace:
    lease: Lease
    rundir: rundir.RunDir


class NativeBackend:
    """Runs each step in fresh namespaces (bubblewrap) and a fresh cgroup."""

    name = "native"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uids = UidPool(settings.sandbox_uid_base, settings.sandbox_uid_count)
        self._ready_lock = threading.Lock()
        self._cgroups: CgroupTree | None = None
        self._init: Path | None = None
        self._launcher: Path | None = None
        self._roots: dict[tuple[str, ...], Path] = {}
        self._device_nodes = True
        self._bwrap: str | None = None

    # --- set-up, once per process ----------------------------------------------------------

    def _prepare(self) -> CgroupTree:
        with self._ready_lock:
            if self._cgroups is None:
                if os.geteuid() != 0:
                    raise SandboxUnavailable(
                        "the native sandbox needs root (to create cgroups and lend uids)"
                    )
                bwrap = shutil.which(self.settings.bwrap_path)
                if bwrap is None:
                    raise SandboxUnavailable(
                        "bubblewrap is not installed: apt-get install bubblewrap"
                    )
                tree = CgroupTree.detect(self.settings.cgroup_name)
                tree.prepare()
                if self.settings.cgroup_favor_dynmods:
                    tree.favor_dynamic_changes()
                _traversable(self.settings.data_dir)
                self.settings.runs_dir.mkdir(parents=True, exist_ok=True)
                os.chmod(self.settings.runs_dir, 0o711)
                rundir.remove_stale(self.settings.runs_dir)
                self._init = static_binary(INIT_SOURCE, self.settings.data_dir, "execbox-init")
                self._launcher = static_binary(
                    LAUNCH_SOURCE, self.settings.data_dir, "execbox-launch"
                )
                self._device_nodes = rootfs.device_nodes_allowed(self.settings.data_dir)
                self._bwrap = bwrap
                self._cgroups = tree
            return self._cgroups

    def _root_dir(self, mounts: tuple[str, ...]) -> Path:
        if mounts not in self._roots:
            assert self._init is not None
            self._roots[mounts] = rootfs.build_root(self.settings.data_dir, self._init, mounts)
        return self._roots[mounts]

    # --- the protocol -----------------------------------------------------------------------

    @contextmanager
    @sandbox_boundary("setting up or removing the run's workspace")
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        self._prepare()
        lease = self.uids.acquire()
        try:
            run_dir = rundir.RunDir(self.settings.runs_dir, run_id, limits.workdir_bytes, lease.uid)
            try:
                rundir.write_files(run_dir.path, files, lease.uid)
                yield Workspace(run_id, limits, _NativeWorkspace(lease, run_dir))
            finally:
                run_dir.remove()
        finally:
            lease.release()

    @sandbox_boundary("running a step in the sandbox")
    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        tree = self._prepare()
        handle = workspace.handle
        assert isinstance(handle, _NativeWorkspace)
        argv = self._resolve(step.argv)
        cgroup = tree.create(f"{workspace.run_id}-{step.kind}", step.limits)
        try:
            return self._run(handle, step, argv, cgroup)
        finally:
            cgroup.destroy()

    def offers(self, language: Language) -> bool:
        return language.host_available()  # the sandbox binds the host's toolchains

    def language_version(self, language: Language) -> str | None:
        return language.host_version  # the sandbox runs the host's toolchains

    def checks(self) -> Iterator[Check]:
        bwrap = shutil.which(self.settings.bwrap_path)
        yield Check(
            "bubblewrap",
            bwrap is not None,
            bwrap or "not found",
            "apt-get install bubblewrap",
        )
        yield Check("root", os.geteuid() == 0, f"euid {os.geteuid()}", "run execbox as root")
        try:
            tree = CgroupTree.detect(self.settings.cgroup_name)
            yield Check("cgroups", True, tree.describe())
            if self.settings.cgroup_favor_dynmods:
                fast = tree.favor_dynamic_changes()
                yield Check(
                    "fast cgroup moves",
                    fast,
                    "favordynmods on"
                    if fast
                    else "cgroup2 favordynmods unavailable (slower starts)",
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

    # --- one step ---------------------------------------------------------------------------

    def _resolve(self, argv: list[str]) -> list[str]:
        """argv[0] as a real path under /usr (what the sandbox can see), or a path in /box."""
        program = argv[0]
        if "/" in program:
            return list(argv)
        found = shutil.which(program, path=HOST_PATH)
        if found is None:
            raise SandboxError(f"{program} is not installed on this host")
        return [os.path.realpath(found), *argv[1:]]

    def _command(
        self, handle: _NativeWorkspace, step: StepSpec, argv: list[str], fds: dict[str, int]
    ) -> list[str]:
        limits = step.limits
        assert self._bwrap is not None
        root = self._root_dir(step.mounts)
        cmd = [
            self._bwrap,
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
        for mount in step.mounts:
            cmd += ["--ro-bind", mount, mount]
        cmd += [
            "--remount-ro", "/usr/local",
            "--proc", "/proc", *_PROC_MASKS,
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--bind", str(handle.rundir.path), rootfs.WORKDIR,
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
        for key, value in step.env.items():
            cmd += ["--setenv", key, value]
        if "seccomp" in fds:
            cmd += ["--seccomp", str(fds["seccomp"])]
        cmd += [
            "--json-status-fd", str(fds["json"]),
            "--block-fd", str(fds["block"]),
            "--",
            INIT_PATH,
            str(fds["status"]),
            str(cpu_rlimit(limits)[0]),
            str(2 * max(limits.workdir_bytes, limits.tmp_bytes)),  # ENOSPC comes first
            str(self.settings.open_files_limit),
            *argv,
        ]  # fmt: skip
        return cmd

    def _run(
        self, handle: _NativeWorkspace, step: StepSpec, argv: list[str], cgroup: Cgroup
    ) -> StepOutcome:
        limits = step.limits
        assert self._launcher is not None
        opened: list[int] = []

        def keep(fd: int) -> int:
            opened.append(fd)
            return fd

        proc: subprocess.Popen[bytes] | None = None
        pidfd = -1
        live = step.live
        stdin_w = -1  # the live input's pipe: owned by the pump once it starts
        pump: AbstractContextManager[None] = nullcontext()
        try:
            if live is not None and live.takes_input:
                stdin_fd, stdin_w = os.pipe()
                keep(stdin_fd)
                pump = live.pump_input(stdin_w, functools.partial(os.close, stdin_w))
            else:
                stdin_fd = keep(os.memfd_create("stdin", os.MFD_CLOEXEC))
                write_all(stdin_fd, step.stdin)
                os.lseek(stdin_fd, 0, os.SEEK_SET)
            out_r, out_w = map(keep, os.pipe())
            err_r, err_w = map(keep, os.pipe())
            json_r, json_w = map(keep, os.pipe())
            block_r, block_w = map(keep, os.pipe())
            status_r, status_w = map(keep, os.pipe())
            fds = {"json": json_w, "block": block_r, "status": status_w}
            if self.settings.seccomp:
                fds["seccomp"] = keep(seccomp.filter_fd())
            cmd = self._command(handle, step, argv, fds)
            # The launcher joins the cgroup, drops to the run's uid and execs bubblewrap:
            # with no uid change in Popen itself, Python can vfork instead of copying
            # this process.
            root_dev = self._root_dir(step.mounts) / "dev"
            host_devices = "-" if self._device_nodes else ",".join(rootfs.DEVICES)
            proc = subprocess.Popen(
                [
                    str(self._launcher),
                    str(handle.lease.uid),
                    str(root_dev),
                    host_devices,
                    *map(str, cgroup.directories()),
                    "--",
                    *cmd,
                ],
                stdin=stdin_fd,
                stdout=out_w,
                stderr=err_w,
                pass_fds=tuple(fds.values()),
                env={"PATH": SANDBOX_PATH},
                close_fds=True,
            )
            for fd in (out_w, err_w, json_w, block_r):
                close_fd(fd, opened)
            child_pid = read_child_pid(json_r, proc)
            if child_pid is None:
                reap(proc)
                message = drain_now(err_r).decode(errors="replace").strip()
                raise SandboxError(
                    f"bubblewrap could not start the sandbox: {message or proc.returncode}"
                )
            pidfd = os.pidfd_open(child_pid)
            os.write(block_w, b"1")
            close_fd(block_w, opened)
            close_fd(status_w, opened)
            close_fd(stdin_fd, opened)  # the sandbox holds it now
            with pump:
                stdin_w = -1
                return supervise(proc, pidfd, cgroup, limits, out_r, err_r, status_r, live)
        finally:
            if stdin_w >= 0:  # the pump never started
                close_quiet(stdin_w)
            if pidfd >= 0:
                kill_pidfd(pidfd)
                os.close(pidfd)
            cgroup.kill()
            if proc is not None:
                reap(proc)
            for fd in opened:
                close_quiet(fd)


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
