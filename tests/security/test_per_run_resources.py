"""Per-user kernel limits are per run, and a full run directory costs the run nothing but space.

Every run is lent a host uid of its own (on both backends), so a run that takes
all the queued signals or POSIX message queue bytes its uid may have leaves a
concurrent run its own; and filling the run directory leaves the report, the
output and the status (so the charge) of the run intact.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from pathlib import Path

from execbox.results import RunResult, Status
from tests.conftest import EVERY_BUILDER, UID_BASE, UID_COUNT, Runner

pytestmark = EVERY_BUILDER

HOLD_S = 10
"""How long the exhausting run holds what it took: the other run must start and end in it."""

# Two per-user limits: queued signals (RLIMIT_SIGPENDING, counted per real uid; tgkill
# is held to it, kill() is not) and
# POSIX message queue bytes (RLIMIT_MSGQUEUE).  (inotify instances, a third, are refused
# by the seccomp policy altogether.)
EXHAUST = f"""
import ctypes, os, signal, sys, threading, time
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
count = 0
try:
    while True:
        signal.pthread_kill(threading.get_ident(), signal.SIGRTMIN)
        count += 1
except OSError as e:
    print("signals", count, e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
count = 0
while libc.mq_open(b"/q%d" % count, os.O_CREAT | os.O_RDWR, 0o600, None) >= 0:
    count += 1
print("mqueues", count, os.strerror(ctypes.get_errno()))
sys.stdout.flush()
time.sleep({HOLD_S})
print("held")
"""

USE = """
import ctypes, os, signal, threading
signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGRTMIN])
try:
    signal.pthread_kill(threading.get_ident(), signal.SIGRTMIN)
    print("signal ok")
except OSError as e:
    print("signal", e.strerror)
libc = ctypes.CDLL(None, use_errno=True)
queue = libc.mq_open(b"/mine", os.O_CREAT | os.O_RDWR, 0o600, None)
print("mqueue", "ok" if queue >= 0 else os.strerror(ctypes.get_errno()))
print("done")
"""


def _full_signal_queues() -> set[int]:
    """This session's sandbox processes whose user has queued all the signals it may (the
    ``SigQ`` line of ``/proc/<pid>/status``, read on the host)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = dict(
                line.split(":\t", 1)
                for line in (entry / "status").read_text().splitlines()
                if ":\t" in line
            )
            uid = int(fields["Uid"].split()[0])
            queued, limit = (int(n) for n in fields["SigQ"].split("/"))
        except (OSError, KeyError, ValueError):
            continue
        if UID_BASE <= uid < UID_BASE + UID_COUNT and 0 < limit <= queued:
            found.add(int(entry.name))
    return found


def _wait_for_holder(exhausting: threading.Thread) -> int:
    while exhausting.is_alive():
        holders = _full_signal_queues()
        if holders:
            return min(holders)
        time.sleep(0.1)
    raise AssertionError("the exhausting run ended before it was seen holding its signals")


def test_a_run_exhausting_per_user_limits_leaves_a_concurrent_run_its_own(run: Runner) -> None:
    results: list[RunResult] = []
    thread = threading.Thread(
        target=lambda: results.append(run("python", EXHAUST, time_limit=HOLD_S + 10))
    )
    thread.start()
    try:
        holder = _wait_for_holder(thread)  # the first run has taken all it may have
        other = run("python", USE)
        overlapped = holder in _full_signal_queues()  # ... and still holds it
    finally:
        thread.join()
    exhausted = results[0]
    assert exhausted.status is Status.OK, exhausted
    lines = exhausted.stdout.splitlines()
    assert len(lines) == 3 and lines[2] == "held", exhausted.stdout
    for line, name in zip(lines, ("signals", "mqueues"), strict=False):
        what, taken, reason = line.split(" ", 2)
        assert (what, int(taken) > 0) == (name, True), exhausted.stdout
        expected = errno.EAGAIN if name == "signals" else errno.EMFILE
        assert reason == os.strerror(expected), exhausted.stdout
    assert overlapped, "the second run did not overlap the first"
    assert (other.status, other.stdout) == (Status.OK, "signal ok\nmqueue ok\ndone\n"), other


def test_filling_the_run_directory_keeps_the_report_and_the_output(run: Runner) -> None:
    code = (
        "import errno, sys\n"
        "print('start')\n"
        "written = 0\n"
        "try:\n"
        "    with open('fill', 'wb') as f:\n"
        "        while True:\n"
        "            written += f.write(b'x' * (1 << 20))\n"
        "            f.flush()\n"
        "except OSError as e:\n"
        "    print('full', errno.errorcode[e.errno], written > 0)\n"
        "for n in range(3):\n"
        "    try:\n"
        "        open(f'more{n}', 'w').write('x' * 8192)\n"
        "    except OSError as e:\n"
        "        pass\n"
        "sys.stderr.write('still here\\n')\n"
        "print('after')\n"
    )
    result = run("python", code)
    assert result.status is Status.OK, result
    assert result.stdout == "start\nfull ENOSPC True\nafter\n"
    assert result.stderr == "still here\n"
    assert result.exit_code == 0
    assert result.duration_ms > 0 and result.cpu_time_ms > 0
