"""Memory the kernel holds for a program, which the run's memory limit must still count
(issue 10: "already held, keep them held"): AF_UNIX socket queues, pipe buffers, SysV
message queues and SysV shared memory; and the inodes of empty files in ``/tmp``, which its
size cap does not count (a tmpfs with no inode cap: the memory limit is what bounds them).

Each kind is tried twice on both backends: a little of it (8 MiB), which the run keeps with
status ``ok`` and which shows in the run's own memory use (the kernel's memory is charged to
the run, and the program really held it), and three times the run's limit, which ends the
run ``memory_limit`` after the program said it started.  Netlink queues, TCP and UDP buffers
have their own tests (``test_seccomp.py``, ``test_hardening_native.py``).
"""

from __future__ import annotations

import pytest

from execbox.results import Status
from tests.conftest import EVERY_BUILDER, Runner

pytestmark = EVERY_BUILDER

MIB = 1 << 20
LIMIT_MB = 48
SMALL_MB = 8

PRELUDE = """
import sys
target = int(sys.argv[1]) << 20
held = 0
print("start", flush=True)
"""

UNIX = """
import socket
kept = []
while held < target:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)
    a.setblocking(False)
    kept += [a, b]
    try:
        while held < target:
            held += a.send(b"x" * min(65536, target - held))
    except BlockingIOError:
        pass
"""

PIPES = """
import fcntl, os
kept = []
while held < target:
    r, w = os.pipe()
    kept.append((r, w))
    fcntl.fcntl(w, 1031, 1 << 20)  # F_SETPIPE_SZ: 1 MiB, the most /proc/sys/fs allows
    os.set_blocking(w, False)
    try:
        while held < target:
            held += os.write(w, b"x" * min(65536, target - held))
    except BlockingIOError:
        pass
"""

SYSV_MESSAGES = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
body = ctypes.create_string_buffer(8 + 8000)
ctypes.c_long.from_buffer(body).value = 1
while held < target:
    queue = libc.msgget(0, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    assert queue >= 0, ctypes.get_errno()
    while held < target and libc.msgsnd(queue, body, 8000, 0o4000) == 0:  # IPC_NOWAIT
        held += 8000
"""

SYSV_SHARED_MEMORY = """
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
while held < target:
    segment = libc.shmget(0, 4 << 20, 0o1600)  # IPC_PRIVATE, IPC_CREAT | 0600
    assert segment >= 0, ctypes.get_errno()
    address = libc.shmat(segment, None, 0)
    ctypes.memset(address, 1, 4 << 20)
    libc.shmdt(ctypes.c_void_p(address))  # detached: the segment stays, mapped by nobody
    held += 4 << 20
"""

EMPTY_FILES = """
import os
count = 0
while held < target:  # an empty file on /tmp (a tmpfs with no inode cap) holds an inode
    os.close(os.open(f"/tmp/{count}", os.O_CREAT | os.O_WRONLY, 0o600))
    count += 1
    held += 1024  # its inode and dentry: about 1 KiB of the kernel's memory
"""

EPILOGUE = """
print("held", held >> 20, "MiB", flush=True)
print("end")
"""

KINDS = {
    "unix-socket-queues": UNIX,
    "pipe-buffers": PIPES,
    "sysv-message-queues": SYSV_MESSAGES,
    "sysv-shared-memory": SYSV_SHARED_MEMORY,
    "empty-files-in-tmp": EMPTY_FILES,
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_memory_the_kernel_holds_counts_against_the_run(run: Runner, kind: str) -> None:
    code = PRELUDE + KINDS[kind] + EPILOGUE
    idle = run("python", code, args=["0"], memory_limit=LIMIT_MB)
    assert (idle.status, idle.stdout) == (Status.OK, "start\nheld 0 MiB\nend\n"), idle
    small = run("python", code, args=[str(SMALL_MB)], memory_limit=LIMIT_MB)
    assert (small.status, small.stdout) == (Status.OK, f"start\nheld {SMALL_MB} MiB\nend\n"), small
    # What the kernel held for the program is the run's: its peak grew by about as much.
    assert small.memory_used - idle.memory_used >= (SMALL_MB - 2) * MIB, (idle, small)
    big = run("python", code, args=[str(3 * LIMIT_MB)], memory_limit=LIMIT_MB)
    assert big.status is Status.MEMORY_LIMIT, big
    assert big.stdout.startswith("start\n"), big  # it ran, and was stopped holding it
    assert big.memory_used <= LIMIT_MB * MIB, big
