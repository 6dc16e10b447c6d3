"""Per-user kernel limits are per run, and a full run directory costs the run nothing but space.

Every run is lent a host uid of its own (on both backends), so a run that takes
all the inotify instances or POSIX message queue bytes its uid may have leaves
a concurrent run its own; and filling the run directory leaves the report, the
output and the status (so the charge) of the run intact.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from pathlib import Path

from execbox.results import RunResult, Status
from tests.conftest import UID_BASE, UID_COUNT, Runner

HOLD_S = 10
"""How long the exhausting run holds what it took: the other run must start and end in it."""

EXHAUST = f"""
import ctypes, os, sys, time
libc = ctypes.CDLL(None, use_errno=True)
count = 0
while libc.inotify_init1(os.O_CLOEXEC) >= 0:
    count += 1
print("inotify", count, os.strerror(ctypes.get_errno()))
count = 0
while libc.mq_open(b"/q%d" % count, os.O_CREAT | os.O_RDWR, 0o600, None) >= 0:
    count += 1
print("mqueues", count, os.strerror(ctypes.get_errno()))
sys.stdout.flush()
time.sleep({HOLD_S})
print("held")
"""

USE = """
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_CLOEXEC)
print("inotify", "ok" if fd >= 0 else os.strerror(ctypes.get_errno()))
queue = libc.mq_open(b"/mine", os.O_CREAT | os.O_RDWR, 0o600, None)
print("mqueue", "ok" if queue >= 0 else os.strerror(ctypes.get_errno()))
print("done")
"""


def _sandbox_inotify_holders() -> dict[int, int]:
    """pid -> inotify instances open, for this session's sandbox processes (seen from the host)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            uid = int((entry / "status").read_text().split("\nUid:\t")[1].split()[0])
            if not UID_BASE <= uid < UID_BASE + UID_COUNT:
                continue
            fds = os.listdir(entry / "fd")
            count = 0
            for fd in fds:
                with contextlib.suppress(OSError):
                    count += os.readlink(entry / "fd" / fd) == "anon_inode:inotify"
        except (OSError, IndexError, ValueError):
            continue
        if count:
            found[int(entry.name)] = count
    return found


def _wait_for_holder(minimum: int, deadline_s: float) -> int:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        for pid, count in _sandbox_inotify_holders().items():
            if count >= minimum:
                return pid
        time.sleep(0.1)
    raise AssertionError(f"no sandbox process came to hold {minimum} inotify instances")


def test_a_run_exhausting_inotify_and_mqueues_leaves_a_concurrent_run_its_own(
    run: Runner,
) -> None:
    limit = int(Path("/proc/sys/fs/inotify/max_user_instances").read_text())
    results: list[RunResult] = []
    thread = threading.Thread(
        target=lambda: results.append(run("python", EXHAUST, time_limit=HOLD_S + 10))
    )
    thread.start()
    try:
        holder = _wait_for_holder(limit, HOLD_S)  # the first run has taken all it may have
        other = run("python", USE)
        still = _sandbox_inotify_holders().get(holder, 0)  # ... and still holds it
    finally:
        thread.join()
    exhausted = results[0]
    assert exhausted.status is Status.OK, exhausted
    emfile = os.strerror(errno.EMFILE)
    lines = exhausted.stdout.splitlines()
    assert lines[0] == f"inotify {limit} {emfile}", exhausted.stdout
    taken, reason = lines[1].split(" ", 2)[1:]
    assert (int(taken) > 0, reason) == (True, emfile), exhausted.stdout
    assert lines[2:] == ["held"]
    assert still >= limit, "the second run did not overlap the first"
    assert (other.status, other.stdout) == (Status.OK, "inotify ok\nmqueue ok\ndone\n"), other


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
