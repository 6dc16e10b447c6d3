"""The native backend: bubblewrap namespaces + execbox's own cgroups, no daemon.

Theory of operation, for one step:

1. A cgroup is made for the step with its memory (no swap), CPU and PIDs limits.
2. bubblewrap is started *as the run's unprivileged host uid* (so the sandbox
   user maps to that uid, never to root) with fresh user, PID, mount, network,
   IPC, UTS and cgroup namespaces, a read-only root holding ``/usr`` and a
   generated ``/etc``, the run directory at ``/box``, size-capped ``/tmp`` and
   ``/dev/shm``, and ``--block-fd``: its sandbox process stops just before
   running anything.
3. bubblewrap reports that process's pid; the host moves it
   into the cgroup, then unblocks it.  Nothing inside ran outside the cgroup.
4. execbox-init (``init.c``) runs as PID 1, sets rlimits, runs the program and
   reports its raw wait status; the host reads stdout/stderr as they come,
   enforcing the output cap while reading, against a wall-clock deadline.
5. Whatever happened, the whole cgroup is killed and removed in ``finally``;
   the host never waits on pipes held by leftovers.
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from execbox.errors import SandboxError, SandboxUnavailable
from execbox.languages.registry import HOST_PATH, Language
from execbox.limits import Limits
from execbox.sandbox import initbin, rootfs, seccomp, workdir
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace
from execbox.sandbox.cgroups import Cgroup, CgroupTree
from execbox.sandbox.netns import NetnsPool
from execbox.sandbox.processes import alive
from execbox.sandbox.uids import Lease, UidPool
from execbox.settings import Settings

SANDBOX_PATH = "/usr/bin:/bin"
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
INIT_PATH = "/" + rootfs.INIT
READ_CHUNK = 65536
SETUP_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 1.0
# Docker's masked /proc paths: files hidden behind /dev/null, directories behind an
# empty read-only tmpfs.  bubblewrap itself makes sys, sysrq-trigger, irq and bus
# read-only; files only host root may read need no mask (the sandbox user is not host
# root).  Only paths this kernel has are listed: a missing one would fail the mount.
_MASKED_FILES = (
    "kcore",
    "keys",
    "key-users",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "latency_stats",
    "kallsyms",
    "config.gz",
    "slabinfo",
    "vmallocinfo",
    "pagetypeinfo",
)
_MASKED_DIRS = ("acpi", "scsi", "asound", "firmware")


def _proc_masks() -> list[str]:
    args: list[str] = []
    for name in _MASKED_FILES:
        path = f"/proc/{name}"
        if os.path.isfile(path) and os.stat(path).st_mode & 0o004:
            args += ["--ro-bind", "/dev/null", path]
    for name in _MASKED_DIRS:
        if os.path.isdir(f"/proc/{name}"):
            args += ["--perms", "0555", "--tmpfs", f"/proc/{name}", "--remount-ro", f"/proc/{name}"]
    return args


_PROC_MASKS = _proc_masks()


@dataclass
class _NativeWorkspace:
    lease: Lease
    rundir: workdir.RunDir


@dataclass
class _Capture:
    """Output of one stream, capped while reading."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    over: bool = False

    def add(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.over = True
        self.data += chunk[: max(room, 0)]


class NativeBackend:
    """Runs each step in fresh namespaces (bubblewrap) and a fresh cgroup."""

    name = "native"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uids = UidPool(settings.sandbox_uid_base, settings.sandbox_uid_count)
        self.netns = NetnsPool()
        self._ready_lock = threading.Lock()
        self._cgroups: CgroupTree | None = None
        self._init: Path | None = None
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
                workdir.remove_stale(self.settings.runs_dir, alive)
                self._init = initbin.init_binary(self.settings.data_dir)
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
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        self._prepare()
        if not _RUN_ID.match(run_id):
            raise SandboxError(f"invalid run id {run_id!r}")  # it names files and cgroups
        lease = self.uids.acquire()
        try:
            rundir = workdir.RunDir(
                self.settings.runs_dir, f"{os.getpid()}_{run_id}", limits.workdir_bytes, lease.uid
            )
            try:
                rundir.write_files(files)
                yield Workspace(run_id, limits, _NativeWorkspace(lease, rundir))
            finally:
                rundir.remove()
        finally:
            lease.release()

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
            yield Check("cgroups", True, f"v{tree.version} at {tree.roots['memory'].parent}")
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
        # Without the pool, a fresh network namespace; with it, init --launch enters the
        # lent uid's own (see netns.py).
        unshare_net = [] if self.settings.netns_pool else ["--unshare-net"]
        cmd = [
            self._bwrap,
            "--unshare-user", "--unshare-pid", "--unshare-ipc",
            "--unshare-uts", "--unshare-cgroup-try",
            "--die-with-parent", "--new-session", "--as-pid-1",
            "--uid", str(rootfs.SANDBOX_UID), "--gid", str(rootfs.SANDBOX_UID),
            "--hostname", rootfs.HOSTNAME,
            *unshare_net,
            # The prepared root (links, /etc, /dev nodes, init), then the host's /usr.
            "--dev-bind", str(root), "/",
            "--ro-bind", "/usr", "/usr",
            "--tmpfs", "/usr/local",
        ]  # fmt: skip
        for mount in step.mounts:
            cmd += ["--ro-bind", mount, mount]
        if not self._device_nodes:
            for device in rootfs.DEVICES:
                cmd += ["--dev-bind", f"/dev/{device}", f"/dev/{device}"]
        cmd += [
            "--proc", "/proc", *_PROC_MASKS,
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--bind", str(handle.rundir.path), rootfs.WORKDIR,
            "--remount-ro", "/",
        ]  # fmt: skip
        if self._device_nodes:
            # Remounting / read-only also made it nodev: /dev gets a bind of its own.
            cmd += ["--dev-bind", str(root / "dev"), "/dev"]
        cmd += [
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
            str(max(1, math.ceil(limits.cpu_time_s))),
            str(2 * max(limits.workdir_bytes, limits.tmp_bytes)),  # ENOSPC comes first
            str(self.settings.open_files_limit),
            *argv,
        ]  # fmt: skip
        return cmd

    def _run(
        self, handle: _NativeWorkspace, step: StepSpec, argv: list[str], cgroup: Cgroup
    ) -> StepOutcome:
        limits = step.limits
        assert self._init is not None
        opened: list[int] = []

        def keep(fd: int) -> int:
            opened.append(fd)
            return fd

        proc: subprocess.Popen[bytes] | None = None
        pidfd = -1
        try:
            stdin_fd = keep(os.memfd_create("stdin", os.MFD_CLOEXEC))
            _write_all(stdin_fd, step.stdin)
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
            uid = handle.lease.uid
            # init --launch drops to the run's uid and execs bubblewrap: with no uid
            # change in Popen itself, Python can vfork instead of copying this process.
            netns = "-"
            if self.settings.netns_pool:
                fds["netns"] = self.netns.for_uid(uid)
                netns = str(fds["netns"])
            proc = subprocess.Popen(
                [str(self._init), "--launch", str(uid), netns, *cmd],
                stdin=stdin_fd,
                stdout=out_w,
                stderr=err_w,
                pass_fds=tuple(fds.values()),
                env={"PATH": SANDBOX_PATH},
                close_fds=True,
            )
            for fd in (out_w, err_w, json_w, block_r):
                _close(fd, opened)
            child_pid = _read_child_pid(json_r, proc)
            if child_pid is None:
                _reap(proc)
                message = _drain_now(err_r).decode(errors="replace").strip()
                raise SandboxError(
                    f"bubblewrap could not start the sandbox: {message or proc.returncode}"
                )
            pidfd = os.pidfd_open(child_pid)
            # Only the sandbox joins the cgroup: bubblewrap outside must live to reap it,
            # or its zombie would go to the host's init.
            cgroup.attach(child_pid)
            os.write(block_w, b"1")
            _close(block_w, opened)
            _close(status_w, opened)
            return self._supervise(proc, pidfd, cgroup, limits, out_r, err_r, status_r)
        except OSError as exc:
            raise SandboxError(f"the sandbox failed: {exc}") from exc
        finally:
            if pidfd >= 0:
                _kill_pidfd(pidfd)
                os.close(pidfd)
            cgroup.kill()
            if proc is not None:
                _reap(proc)
            for fd in opened:
                _close_quiet(fd)

    def _supervise(
        self,
        proc: subprocess.Popen[bytes],
        pidfd: int,
        cgroup: Cgroup,
        limits: Limits,
        out_r: int,
        err_r: int,
        status_r: int,
    ) -> StepOutcome:
        started = time.monotonic()
        deadline = started + limits.time_s
        captures = {out_r: _Capture(limits.output_bytes), err_r: _Capture(limits.output_bytes)}
        report = bytearray()
        timed_out = output_limited = False
        ended_at: float | None = None
        drain_deadline = math.inf
        with selectors.DefaultSelector() as selector:
            for fd in (out_r, err_r, status_r):
                os.set_blocking(fd, False)
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                now = time.monotonic()
                if ended_at is None and now >= deadline:
                    timed_out = True
                    ended_at = now
                    self._stop(pidfd, cgroup)
                    drain_deadline = now + DRAIN_TIMEOUT_S
                if now >= drain_deadline:
                    break
                wait = (deadline if ended_at is None else drain_deadline) - now
                for key, _ in selector.select(max(wait, 0)):
                    fd = int(key.fd)
                    try:
                        chunk = os.read(fd, READ_CHUNK)
                    except BlockingIOError:
                        continue
                    if not chunk:
                        selector.unregister(fd)
                        if fd == status_r and ended_at is None:
                            # init has exited: the program is done; end its leftovers now.
                            ended_at = time.monotonic()
                            self._stop(pidfd, cgroup)
                            drain_deadline = ended_at + DRAIN_TIMEOUT_S
                        continue
                    if fd == status_r:
                        report += chunk
                        continue
                    capture = captures[fd]
                    capture.add(chunk)
                    if capture.over and not output_limited:
                        output_limited = True
                        ended_at = time.monotonic()
                        self._stop(pidfd, cgroup)
                        drain_deadline = ended_at + DRAIN_TIMEOUT_S
        stats = cgroup.stats()
        kind, number, wall_ns = _parse_report(bytes(report))
        if kind == "exec-error" and not (timed_out or output_limited):
            raise SandboxError(f"cannot start the program: {os.strerror(number)}")
        exit_code = number if kind == "exit" else None
        sig = number if kind == "signal" else None
        oom = stats.oom_kills > 0
        if kind is None and not (timed_out or output_limited or oom):
            _reap(proc)
            raise SandboxError(
                f"the sandbox ended without a report (bubblewrap exit {proc.returncode})"
            )
        if kind is None:
            sig = signal.SIGKILL  # we (or the OOM killer) killed it before it could report
        cpu_ms = stats.cpu_time_ns / 1e6
        if sig in (signal.SIGKILL, signal.SIGXCPU) and cpu_ms >= limits.cpu_time_s * 1000 * 0.95:
            timed_out = True
        end = ended_at if ended_at is not None else time.monotonic()
        duration_ms = wall_ns / 1e6 if wall_ns else (end - started) * 1000
        return StepOutcome(
            exit_code=exit_code,
            signal=int(sig) if sig is not None else None,
            stdout=bytes(captures[out_r].data),
            stderr=bytes(captures[err_r].data),
            duration_ms=duration_ms,
            cpu_time_ms=cpu_ms,
            memory_bytes=min(stats.memory_peak_bytes, limits.memory_bytes),
            timed_out=timed_out,
            oom_killed=oom,
            output_limited=output_limited,
        )

    @staticmethod
    def _stop(pidfd: int, cgroup: Cgroup) -> None:
        _kill_pidfd(pidfd)
        cgroup.kill()


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


def _parse_report(report: bytes) -> tuple[str | None, int, int]:
    """init's first line: ``exit N WALL_NS``, ``signal N WALL_NS`` or ``exec-error ERRNO 0``."""
    line = report.split(b"\n", 1)[0].decode(errors="replace").split()
    if len(line) != 3 or line[0] not in ("exit", "signal", "exec-error"):
        return None, 0, 0
    try:
        return line[0], int(line[1]), int(line[2])
    except ValueError:
        return None, 0, 0


def _read_child_pid(json_r: int, proc: subprocess.Popen[bytes]) -> int | None:
    """bubblewrap's first status document names the sandbox's pid (or EOF if it failed)."""
    buffer = b""
    deadline = time.monotonic() + SETUP_TIMEOUT_S
    with selectors.DefaultSelector() as selector:
        selector.register(json_r, selectors.EVENT_READ)
        while b"}" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not selector.select(remaining):
                proc.kill()
                return None
            chunk = os.read(json_r, 4096)
            if not chunk:
                return None
            buffer += chunk
    try:
        document = json.loads(buffer[: buffer.index(b"}") + 1])
        return int(document["child-pid"])
    except (ValueError, KeyError, TypeError):
        return None


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Wait for bubblewrap to exit (it follows its sandbox), killing it if it lingers.

    A pidfd wakes us the moment it exits; ``Popen.wait(timeout)`` would poll with sleeps.
    """
    if proc.returncode is not None:
        return
    try:
        pidfd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        proc.wait()
        return
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(SETUP_TIMEOUT_S * 1000):
            proc.kill()
    finally:
        os.close(pidfd)
    proc.wait()


def _drain_now(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _kill_pidfd(pidfd: int) -> None:
    with suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)


def _close(fd: int, opened: list[int]) -> None:
    os.close(fd)
    opened.remove(fd)


def _close_quiet(fd: int) -> None:
    with suppress(OSError):
        os.close(fd)
