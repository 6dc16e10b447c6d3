"""Watching one native step: output read and capped as it comes, limits, the init's report.

The host reads the program's stdout and stderr and the init's status descriptor
against a wall-clock deadline.  The output cap is enforced while reading.  When the
init reports how the program ended, nothing of the sandbox is left (init.c): what the
pipes hold now is all the output, read without waiting for their EOF, and the step is
done (the backend tears the sandbox down after answering).  When a limit fires (or the
init ends without that report) the whole cgroup is killed and what is left in the
pipes is drained for a short, bounded time, so leftovers holding a pipe cannot hold
the host.
"""

from __future__ import annotations

import json
import math
import os
import select
import selectors
import signal
import subprocess
import time
from contextlib import suppress
from dataclasses import dataclass, field

from execbox.errors import SandboxError
from execbox.limits import Limits
from execbox.live import LiveStep
from execbox.sandbox.base import StepOutcome
from execbox.sandbox.native.cgroups import Cgroup
from execbox.sandbox.policy import cpu_limited

READ_CHUNK = 65536
SETUP_TIMEOUT_S = 10.0
DRAIN_TIMEOUT_S = 1.0


@dataclass
class _Capture:
    """Output of one stream, capped while reading."""

    cap: int
    data: bytearray = field(default_factory=bytearray)
    over: bool = False

    def add(self, chunk: bytes) -> bytes:
        """Keeps what fits under the cap; answers what was kept."""
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.over = True
        kept = chunk[: max(room, 0)]
        self.data += kept
        return kept


def supervise(
    proc: subprocess.Popen[bytes],
    pidfd: int,
    cgroup: Cgroup,
    limits: Limits,
    out_r: int,
    err_r: int,
    status_r: int,
    live: LiveStep | None = None,
) -> StepOutcome:
    """Read the step to its end; with ``live``, pass output on as it is read and let a stop
    kill the step (a stopped step is reported as killed by SIGKILL)."""
    if live is None:
        return _supervise(proc, pidfd, cgroup, limits, out_r, err_r, status_r, None)
    with live.stoppable(lambda: _stop(pidfd, cgroup)):
        return _supervise(proc, pidfd, cgroup, limits, out_r, err_r, status_r, live)


def _supervise(
    proc: subprocess.Popen[bytes],
    pidfd: int,
    cgroup: Cgroup,
    limits: Limits,
    out_r: int,
    err_r: int,
    status_r: int,
    live: LiveStep | None,
) -> StepOutcome:
    started = time.monotonic()
    deadline = started + limits.time_s
    captures = {out_r: _Capture(limits.output_bytes), err_r: _Capture(limits.output_bytes)}
    report = bytearray()
    timed_out = output_limited = False
    ended_at: float | None = None
    drain_deadline = math.inf
    reported = False
    with selectors.DefaultSelector() as selector:
        for fd in (out_r, err_r, status_r):
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        while selector.get_map():
            now = time.monotonic()
            if ended_at is None and now >= deadline:
                timed_out = True
                ended_at = now
                _stop(pidfd, cgroup)
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
                        _stop(pidfd, cgroup)
                        drain_deadline = ended_at + DRAIN_TIMEOUT_S
                    continue
                if fd == status_r:
                    report += chunk
                    if ended_at is None and _final(report):
                        # init reports only once nothing of the sandbox is left (init.c):
                        # all the output is in the pipes already, no need to wait for EOF.
                        ended_at = time.monotonic()
                        for stream, name in ((out_r, "stdout"), (err_r, "stderr")):
                            if stream in selector.get_map():
                                capture = captures[stream]
                                output_limited |= _read_ready(stream, name, capture, live)
                        reported = True
                        break
                    continue
                capture = captures[fd]
                kept = capture.add(chunk)
                if live is not None and kept:
                    live.output("stdout" if fd == out_r else "stderr", kept)
                if capture.over and not output_limited:
                    output_limited = True
                    ended_at = time.monotonic()
                    _stop(pidfd, cgroup)
                    drain_deadline = ended_at + DRAIN_TIMEOUT_S
            if reported:
                break
    stats = cgroup.stats()
    kind, number, wall_ns, cpu_ns, what = _parse_report(bytes(report))
    if kind == "sandbox-error":
        raise SandboxError(f"the sandbox's init failed: {what}: {os.strerror(number)}")
    stopped = live is not None and live.stopped
    if kind == "exec-error" and not (timed_out or output_limited or stopped):
        raise SandboxError(f"cannot start the program: {os.strerror(number)}")
    exit_code = number if kind == "exit" else None
    sig = number if kind == "signal" else None
    oom = stats.oom_kills > 0
    if kind is None and not (timed_out or output_limited or oom or stopped):
        reap(proc)
        raise SandboxError(f"the sandbox ended without a report (builder exit {proc.returncode})")
    if kind is None:
        sig = signal.SIGKILL  # we (or the OOM killer) killed it before it could report
    # init's count is the program's own; without a report, the cgroup's (from the start)
    cpu_ms = (cpu_ns if cpu_ns is not None else stats.cpu_time_ns) / 1e6
    if cpu_limited(sig, cpu_ms, limits):
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


def _final(report: bytearray) -> bool:
    """Whether init's report is a whole line saying how the program ended (init writes it
    after the sandbox's last other process is gone; an exec-error or sandbox-error line
    comes earlier, and is handled the slow way)."""
    return b"\n" in report and report.startswith((b"exit ", b"signal "))


def _read_ready(fd: int, name: str, capture: _Capture, live: LiveStep | None) -> bool:
    """Read what ``fd`` holds now, until it would block or ends; answers whether the
    output went over the cap."""
    while not capture.over:
        try:
            chunk = os.read(fd, READ_CHUNK)
        except BlockingIOError:
            break
        if not chunk:
            break
        kept = capture.add(chunk)
        if live is not None and kept:
            live.output(name, kept)
    return capture.over


def _stop(pidfd: int, cgroup: Cgroup) -> None:
    kill_pidfd(pidfd)
    cgroup.kill()


def _parse_report(report: bytes) -> tuple[str | None, int, int, int | None, str]:
    """init's first line: ``exit N WALL_NS CPU_NS``, ``signal N WALL_NS CPU_NS``,
    ``exec-error ERRNO 0`` or ``sandbox-error ERRNO 0 WHAT`` (the init itself failed; see
    init.c): kind, number, wall and CPU time (``None`` when the line has none), what."""
    line = report.split(b"\n", 1)[0].decode(errors="replace").split()
    cpu: str | None = None
    if line[:1] == ["sandbox-error"] and len(line) == 4:
        what = line[3]
    elif len(line) == 4 and line[0] in ("exit", "signal"):
        what, cpu = "", line[3]
    elif len(line) == 3 and line[0] == "exec-error":
        what = ""
    else:
        return None, 0, 0, None, ""
    try:
        return line[0], int(line[1]), int(line[2]), int(cpu) if cpu else None, what
    except ValueError:
        return None, 0, 0, None, ""


def read_child_pid(json_r: int, proc: subprocess.Popen[bytes]) -> int | None:
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


def reap(proc: subprocess.Popen[bytes]) -> None:
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


def drain_now(fd: int) -> bytes:
    os.set_blocking(fd, False)
    try:
        return os.read(fd, READ_CHUNK)
    except BlockingIOError:
        return b""


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def kill_pidfd(pidfd: int) -> None:
    with suppress(ProcessLookupError):
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)


def close_fd(fd: int, opened: list[int]) -> None:
    os.close(fd)
    opened.remove(fd)


def close_quiet(fd: int) -> None:
    with suppress(OSError):
        os.close(fd)
