"""A native sandbox started up to the moment before its init runs, then let go.

``start`` runs execbox-launch (cgroup joined, private read-only ``/dev``, the run's uid)
and the builder with ``--block-fd``: every namespace is made and every mount done, and the
sandbox's first process waits just before it execs the init.  What the step runs (argv,
rlimits) is not on the builder's command line: ``go`` writes it to the *spec* memfd the init
reads (see ``init.c``), fills the stdin memfd, and unblocks.  So a sandbox can be started
ahead of time, before anyone knows what it will run (:mod:`.pool`), or just in time.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from execbox.errors import SandboxError
from execbox.sandbox.native.cgroups import Cgroup
from execbox.sandbox.native.supervise import (
    close_fd,
    close_quiet,
    drain_now,
    kill_pidfd,
    read_child_pid,
    reap,
    write_all,
)
from execbox.timing import Marks

SANDBOX_ENV = {"PATH": "/usr/bin:/bin"}


@dataclass
class Started:
    """One started sandbox: its processes, cgroup and the host's ends of its descriptors.

    ``close`` (always, in ``finally``) kills the cgroup, reaps the builder and closes every
    descriptor still open."""

    proc: subprocess.Popen[bytes]
    pidfd: int
    cgroup: Cgroup
    stdin_fd: int
    """The sandbox's stdin: a memfd filled by ``go``, or a pipe's read end (live input)."""
    spec_fd: int
    block_w: int
    out_r: int
    err_r: int
    status_r: int
    opened: list[int] = field(default_factory=list)
    """Every descriptor of the host's still open (closed by ``close``)."""
    stdin_w: int = -1
    """The live input pipe's write end (-1: stdin is the memfd ``go`` fills); not in
    ``opened``: it is the caller's to close (or its pump's)."""

    def go(self, spec: Sequence[str], stdin: bytes) -> None:
        """Tell the init what to run (``spec``: NUL-terminated strings) and let it go."""
        if any("\0" in arg for arg in spec):
            raise SandboxError("an argument of the program holds a NUL character")
        data = b"".join(arg.encode() + b"\0" for arg in spec)
        write_all(self.spec_fd, data)
        if stdin and self.stdin_w < 0:
            write_all(self.stdin_fd, stdin)
            os.lseek(self.stdin_fd, 0, os.SEEK_SET)  # the sandbox shares this offset
        os.write(self.block_w, b"1")
        for fd in (self.block_w, self.spec_fd, self.stdin_fd):
            close_fd(fd, self.opened)

    def close(self) -> None:
        if self.pidfd >= 0:
            kill_pidfd(self.pidfd)
            os.close(self.pidfd)
            self.pidfd = -1
        self.cgroup.kill()
        reap(self.proc)
        for fd in self.opened:
            close_quiet(fd)
        self.opened.clear()


def start(
    launcher: Sequence[str],
    command: Callable[[dict[str, int]], list[str]],
    cgroup: Cgroup,
    *,
    seccomp_fd: Callable[[], int] | None,
    input_pipe: bool = False,
) -> Started:
    """Start the builder through the launcher (``launcher``: its argv up to ``--``) in
    ``cgroup``; ``command(fds)`` is the builder's argv given the descriptors it gets (json,
    block, status, spec, seccomp).  With ``input_pipe`` stdin is a pipe whose write end
    is ``Started.stdin_w``; else a memfd ``go`` fills."""
    opened: list[int] = []
    try:
        marks = Marks()
        stdin_w = -1
        if input_pipe:  # the write end is the caller's (its pump closes it)
            stdin_fd, stdin_w = os.pipe()
            opened.append(stdin_fd)
        else:
            stdin_fd = _keep(opened, os.memfd_create("stdin", os.MFD_CLOEXEC))
        out_r, out_w = _pipe(opened)
        err_r, err_w = _pipe(opened)
        json_r, json_w = _pipe(opened)
        block_r, block_w = _pipe(opened)
        status_r, status_w = _pipe(opened)
        spec = _keep(opened, os.memfd_create("spec", os.MFD_CLOEXEC))
        fds = {"json": json_w, "block": block_r, "status": status_w, "spec": spec}
        if seccomp_fd is not None:
            fds["seccomp"] = _keep(opened, seccomp_fd())
        proc = subprocess.Popen(
            [*launcher, *map(str, cgroup.directories()), "--", *command(fds)],
            stdin=stdin_fd,
            stdout=out_w,
            stderr=err_w,
            pass_fds=tuple(fds.values()),
            env=SANDBOX_ENV,
            close_fds=True,
        )
        marks.mark("launcher spawn")
        started = Started(
            proc, -1, cgroup, stdin_fd, spec, block_w, out_r, err_r, status_r, opened, stdin_w
        )
    except BaseException:
        for fd in [*opened, stdin_w]:
            if fd >= 0:
                close_quiet(fd)
        raise
    try:
        for fd in (out_w, err_w, json_w, block_r, status_w, fds.get("seccomp", -1)):
            if fd >= 0:
                close_fd(fd, opened)
        child_pid = read_child_pid(json_r, proc)
        if child_pid is None:
            reap(proc)
            message = drain_now(err_r).decode(errors="replace").strip()
            raise SandboxError(f"the sandbox could not be built: {message or proc.returncode}")
        close_fd(json_r, opened)
        started.pidfd = os.pidfd_open(child_pid)
        marks.mark("sandbox setup")
        return started
    except BaseException:
        started.close()
        if stdin_w >= 0:
            close_quiet(stdin_w)
        raise


def _keep(opened: list[int], fd: int) -> int:
    opened.append(fd)
    return fd


def _pipe(opened: list[int]) -> tuple[int, int]:
    r, w = os.pipe()
    opened += [r, w]
    return r, w
