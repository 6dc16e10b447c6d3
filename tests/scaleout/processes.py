"""Starting and ending the real processes of a scale-out test, and waiting on them.

Every process a test starts dies with the test session: the kernel sends it SIGKILL
when the pytest process goes (``PR_SET_PDEATHSIG``), so an interrupted session leaves no
API node, worker or private server running.  Each runs in its own process group, so a
signal meant for it (or a Ctrl-C in the terminal) reaches only what it should.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # Runs in the child after its uid change (which would clear the death signal).
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Call ``check`` until it is true; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not within {timeout:g} s: {what}")
        time.sleep(interval)


class Process:
    """One started process, its output in a log file (read when a test fails)."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        env: Mapping[str, str] | None = None,
        user: str | int | None = None,
        cwd: Path | None = None,
        *,
        dumps_stacks: bool = False,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.dumps_stacks = dumps_stacks
        """An execbox command: SIGUSR1 writes its threads' stacks to the log."""
        self.log_path = log
        uid = gid = None
        if user is not None:  # its own group: Debian's nobody has none of that name
            account = pwd.getpwnam(user) if isinstance(user, str) else pwd.getpwuid(user)
            uid, gid = account.pw_uid, account.pw_gid
        with open(log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                user=uid,
                group=gid,
                extra_groups=[] if uid is not None else None,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self, tail: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""

    def send(self, sig: int) -> None:
        if self.alive():
            self.popen.send_signal(sig)

    def kill(self) -> int:
        """SIGKILL, and reap it."""
        self.send(signal.SIGKILL)
        return self.popen.wait(timeout=30)

    def kill_group(self) -> None:
        """SIGKILL to its whole process group (what a crash of a forking server leaves)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=30)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        """``sig``, then wait for the exit (SIGKILL after ``timeout``, its threads' stacks
        in its log first); the exit status."""
        self.send(sig)
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.dump_stacks()
            self.kill_group()
            raise

    def dump_stacks(self, wait_s: float = 2.0) -> None:
        """Have an execbox process that is still running write every thread's stack to its
        log (SIGUSR1: it goes on), to show where it is stuck."""
        if self.dumps_stacks and self.alive():
            self.send(signal.SIGUSR1)
            time.sleep(wait_s)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)
