"""The native backend: fresh namespaces + execbox's own cgroups, no daemon.

What it needs of the host is set up once per process, before the first step
(:mod:`.host`: root, the cgroup tree, the static init, launcher and builder).

The *builder* makes a sandbox's namespaces and mounts: execbox-sandbox (``sandbox.c``)
by default, bubblewrap with ``sandbox_builder = "bubblewrap"``; both take the same
command line (:mod:`.bwrap`), so what follows holds for either.

Theory of operation, for one step:

1. A cgroup is made for the step with its memory (no swap), CPU and PIDs limits.
2. execbox-launch (``launch.c``) joins the cgroup, makes the prepared ``/dev``
   read-only in a private mount namespace, and starts the builder *as the run's
   unprivileged host uid* (so the sandbox user maps to that uid, never to root)
   with fresh user, PID, mount, network, IPC, UTS and cgroup namespaces (the
   last rooted at the step's cgroup), a read-only root holding ``/usr`` and a
   generated ``/etc``, the run directory at ``/box``, size-capped ``/tmp`` and
   ``/dev/shm``, and ``--block-fd``: its sandbox process stops just before
   running anything.  Nothing of the builder or the sandbox runs outside the cgroup.
3. The builder reports that process's pid; the host opens a pidfd on it.  Steps 1-3
   happen ahead of time for a step whose kind has a *warm* sandbox waiting (with its
   own uid and empty run directory, see :mod:`.pool`), else on demand.
4. The host writes the program's argv and rlimits to the spec memfd, its stdin to the
   stdin memfd, and unblocks the sandbox (:mod:`.started`).
5. execbox-init (``init.c``) runs as PID 1, reads the spec, sets rlimits, runs the
   program and reports its raw wait status; the host reads stdout/stderr as they come,
   enforcing the output cap while reading, against a wall-clock deadline.
6. When the init reports, nothing of the sandbox runs any more (init killed and reaped
   the rest first): the step answers at once.  Whatever happened, the whole cgroup is
   then killed and removed, the builder reaped and, after the run's last step, the run
   directory removed and the uid given back, in the background (:mod:`.teardown`,
   in order, before the uid can be leased again); ``settle`` and ``close`` wait for
   it.  The host never waits on pipes held by leftovers.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import shutil
import threading
import uuid
import weakref
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxError
from execbox.languages.registry import HOST_PATH, Language
from execbox.limits import Limits
from execbox.live import LiveStep
from execbox.sandbox import rundir
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace
from execbox.sandbox.boundary import sandbox_boundary
from execbox.sandbox.native import bwrap, host, rootfs, seccomp, started, teardown
from execbox.sandbox.native.bwrap import Key
from execbox.sandbox.native.cgroups import Cgroup
from execbox.sandbox.native.host import Host
from execbox.sandbox.native.pool import WarmPool
from execbox.sandbox.native.started import Started
from execbox.sandbox.native.supervise import close_quiet, supervise
from execbox.sandbox.native.teardown import Teardowns
from execbox.sandbox.policy import cpu_rlimit, file_size_rlimit
from execbox.sandbox.rundir import RunDir
from execbox.sandbox.uids import Lease, UidPool
from execbox.settings import Settings
from execbox.timing import Marks, phase, record

log = logging.getLogger(__name__)


@dataclass
class _Warm:
    """A sandbox started ahead of time, with the uid and run directory it was made for."""

    lease: Lease
    rundir: RunDir
    started: Started


@dataclass
class _NativeWorkspace:
    """A run's uid and run directory, made by its first step (or taken from a warm
    sandbox); ``files`` wait until then."""

    files: Mapping[str, bytes]
    lease: Lease | None = None
    rundir: RunDir | None = None

    def adopt(self, lease: Lease, run_dir: RunDir) -> None:
        self.lease, self.rundir = lease, run_dir
        with phase("rundir write"):
            rundir.write_files(run_dir.path, self.files, lease.uid)

    def close(self) -> None:
        try:
            if self.rundir is not None:
                with phase("rundir remove"):
                    self.rundir.remove()
        finally:
            if self.lease is not None:
                self.lease.release()


class NativeBackend:
    """Runs each step in fresh namespaces (the builder's) and a fresh cgroup."""

    name = "native"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.uids = UidPool(settings.sandbox_uid_base, settings.sandbox_uid_count)
        self._ready_lock = threading.Lock()
        self._host: Host | None = None
        self._roots: dict[tuple[str, ...], Path] = {}
        self._programs: dict[str, str] = {}
        self._pool: WarmPool[Key, _Warm] | None = None
        self._teardowns = Teardowns()
        _BACKENDS.add(self)
        if settings.warm_sandboxes > 0:
            self._pool = WarmPool(
                self._make_warm,
                self._destroy_warm,
                size=settings.warm_sandboxes,
                kinds=settings.warm_sandbox_kinds,
            )

    # --- set-up, once per process ----------------------------------------------------------

    def _prepare(self) -> Host:
        with self._ready_lock:
            if self._host is None:
                self._host = host.prepare(self.settings)
            return self._host

    def _root_dir(self, init: Path, mounts: tuple[str, ...]) -> Path:
        if mounts not in self._roots:
            self._roots[mounts] = rootfs.build_root(self.settings.data_dir, init, mounts)
        return self._roots[mounts]

    # --- the protocol -----------------------------------------------------------------------

    @contextmanager
    @sandbox_boundary("setting up or removing the run's workspace")
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        self._prepare()
        for name in files:
            rundir.check_file_name(name)
        handle = _NativeWorkspace(files)
        try:
            yield Workspace(run_id, limits, handle)
        finally:
            # After the teardowns of its steps (handed in before): see .teardown.
            self._teardowns.submit(f"the workspace of run {run_id}", handle.close)

    @sandbox_boundary("running a step in the sandbox")
    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        tree = self._prepare().cgroups
        handle = workspace.handle
        assert isinstance(handle, _NativeWorkspace)
        argv = self._resolve(step.argv)
        key = Key.of(step)
        warm = None
        if handle.rundir is None and step.live is None and self._pool is not None:
            warm = self._pool.claim(key)
        started: Started | None = None
        if warm is not None:
            started = warm.started
            cgroup = started.cgroup
            try:
                handle.adopt(warm.lease, warm.rundir)
            except BaseException:
                started.close()
                cgroup.destroy()
                raise
        else:
            if handle.rundir is None:
                lease = self._lease()
                try:
                    with phase("rundir mount"):
                        made = RunDir(
                            self.settings.runs_dir, workspace.run_id, step.limits.workdir_bytes,
                            lease.uid,
                        )  # fmt: skip
                except BaseException:
                    lease.release()
                    raise
                handle.adopt(lease, made)
            with phase("cgroup create"):
                cgroup = tree.create(f"{workspace.run_id}-{step.kind}", step.limits)
        try:
            assert handle.lease is not None and handle.rundir is not None
            if started is None:
                started = self._start(key, handle.lease.uid, handle.rundir, cgroup, step.live)
            with self._pool.step() if self._pool is not None else nullcontext():
                return self._finish(started, step, argv)
        finally:
            what = f"the {step.kind} step of run {workspace.run_id}"
            self._teardowns.submit(what, functools.partial(_tear_down, started, cgroup))

    def _lease(self) -> Lease:
        """A uid for a step made on demand; the teardowns under way, then the warm
        sandboxes give theirs back if none is free."""
        try:
            with phase("uid lease"):
                return self.uids.acquire()
        except SandboxError:
            if not self._teardowns.pending and self._pool is None:
                raise
        if self._teardowns.pending:
            self._teardowns.settle()
            try:
                return self.uids.acquire()
            except SandboxError:
                if self._pool is None:
                    raise
        assert self._pool is not None
        with self._pool.pause():
            self._pool.drain()
            return self.uids.acquire()

    def settle(self) -> None:
        """Wait until every step's sandbox and every run's workspace handed to the
        background teardown is gone (its processes, cgroup, run directory, uid)."""
        if not self._teardowns.settle():
            log.error("sandbox teardowns still pending after %.0f s", teardown.SETTLE_TIMEOUT_S)

    def close(self) -> None:
        """Wait for the teardowns under way and destroy the warm sandboxes (the pool
        starts again on the next step)."""
        self.settle()
        if self._pool is not None:
            self._pool.drain()

    def wait_warm(self, timeout: float = 30.0) -> bool:
        """Wait until the warm sandboxes being started are (see ``WarmPool.wait_full``)."""
        return self._pool is None or self._pool.wait_full(timeout)

    def offers(self, language: Language) -> bool:
        return language.host_available()  # the sandbox binds the host's toolchains

    def language_version(self, language: Language) -> str | None:
        return language.host_version  # the sandbox runs the host's toolchains

    def checks(self) -> Iterator[Check]:
        return host.checks(self.settings)

    # --- one step ---------------------------------------------------------------------------

    def _resolve(self, argv: list[str]) -> list[str]:
        """argv[0] as a real path under /usr (what the sandbox can see), or a path in /box.

        Looked up once per program (as the toolchains' versions are read once), and again
        if that file goes away."""
        program = argv[0]
        if "/" in program:
            return list(argv)
        found = self._programs.get(program)
        if found is None or not os.path.exists(found):
            which = shutil.which(program, path=HOST_PATH)
            if which is None:
                raise SandboxError(f"{program} is not installed on this host")
            found = self._programs[program] = os.path.realpath(which)
        return [found, *argv[1:]]

    def _start(
        self,
        key: Key,
        uid: int,
        run_dir: RunDir,
        cgroup: Cgroup,
        live: LiveStep | None = None,
    ) -> Started:
        """The builder started for ``key`` in ``cgroup`` as ``uid``, blocked before its init.

        The launcher joins the cgroup, drops to the run's uid and execs the builder: with
        no uid change in Popen itself, Python can vfork instead of copying this process."""
        ready = self._prepare()
        root = self._root_dir(ready.init, key.mounts)
        root_dev = root / "dev"
        host_devices = "-" if ready.device_nodes else ",".join(rootfs.DEVICES)
        return started.start(
            [str(ready.launcher), str(uid), str(root_dev), host_devices],
            lambda fds: bwrap.command(ready.builder, key, root, run_dir.path, fds),
            cgroup,
            seccomp_fd=seccomp.filter_fd if self.settings.seccomp else None,
            input_pipe=live is not None and live.takes_input,
        )

    def _finish(self, sandbox: Started, step: StepSpec, argv: list[str]) -> StepOutcome:
        """Let ``sandbox`` run ``argv`` under the step's limits and watch it to its end."""
        limits = step.limits
        spec = [
            str(cpu_rlimit(limits)[0]),
            str(file_size_rlimit(limits)),
            str(self.settings.open_files_limit),
            *argv,
        ]
        live = step.live
        stdin_w, sandbox.stdin_w = sandbox.stdin_w, -1
        pump: AbstractContextManager[None] = nullcontext()
        try:
            if stdin_w >= 0:
                assert live is not None
                pump = live.pump_input(stdin_w, functools.partial(os.close, stdin_w))
            # Live input (stdin_w) carries the upfront stdin too, first: the memfd is not used.
            sandbox.cgroup.start_accounting()  # the run's CPU and memory, not the setup's
            sandbox.go(spec, b"" if stdin_w >= 0 else step.stdin)
            with pump:
                stdin_w = -1  # the pump owns it now
                marks = Marks()
                outcome = supervise(
                    sandbox.proc, sandbox.pidfd, sandbox.cgroup, limits,
                    sandbox.out_r, sandbox.err_r, sandbox.status_r, live,
                )  # fmt: skip
                marks.mark("program and collection")
                record("program (init's clock)", outcome.duration_ms)
                return outcome
        finally:
            if stdin_w >= 0:  # the pump never started
                close_quiet(stdin_w)

    # --- warm sandboxes ---------------------------------------------------------------------

    def _make_warm(self, key: Key) -> _Warm | None:
        tree = self._prepare().cgroups
        try:
            lease = self.uids.acquire()
        except SandboxError:
            return None  # every uid is in use: nothing to start now
        name = f"warm-{uuid.uuid4().hex}"
        made: RunDir | None = None
        cgroup: Cgroup | None = None
        try:
            made = RunDir(self.settings.runs_dir, name, key.limits.workdir_bytes, lease.uid)
            cgroup = tree.create(f"{name}-{key.kind}", key.limits)
            return _Warm(lease, made, self._start(key, lease.uid, made, cgroup))
        except BaseException:
            try:
                if cgroup is not None:
                    cgroup.destroy()
                if made is not None:
                    made.remove()
            finally:
                lease.release()
            raise

    @staticmethod
    def _destroy_warm(warm: _Warm) -> None:
        try:
            warm.started.close()
            warm.started.cgroup.destroy()
            warm.rundir.remove()
        except (OSError, SandboxError):
            log.exception("could not remove a warm sandbox")
        finally:
            warm.lease.release()


def _tear_down(started: Started | None, cgroup: Cgroup) -> None:
    """A step's sandbox gone: the builder killed and reaped, its cgroup removed."""
    try:
        if started is not None:
            with phase("kill and reap"):
                started.close()
    finally:
        with phase("cgroup destroy"):
            cgroup.destroy()


_BACKENDS: weakref.WeakSet[NativeBackend] = weakref.WeakSet()


@atexit.register
def close_all() -> None:
    """Finish every backend's teardowns and destroy its warm sandboxes, in this process (at
    exit: no run directory, cgroup or process of ours outlives us)."""
    for backend in list(_BACKENDS):
        backend.close()
    teardown.settle_all()  # those of backends already gone, too
