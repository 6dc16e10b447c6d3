"""Network namespaces lent with the sandbox uids: loopback only, one per uid, reused.

Creating a network namespace is among the costliest parts of starting a
sandbox.  The native backend instead keeps one per lent uid, made once by a
short-lived thread (``unshare`` of a network namespace affects only the
calling thread) and held open by a descriptor, so the host gets no mount and
nothing outlives the process.  ``execbox-init --launch`` enters it before
dropping privileges.  Reuse is safe because only the run holding the uid's
lease is in it, every process of that run is dead before the uid is lent
again, and a program cannot configure it (that takes CAP_NET_ADMIN over it).
Only TCP TIME_WAIT entries of the previous run may remain.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import os
import socket
import struct
import threading

from execbox.errors import SandboxError

CLONE_NEWNET = 0x40000000
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
IFF_RUNNING = 0x40
_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _loopback_up() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(sock, SIOCGIFFLAGS, request)[:18])[1]
        fcntl.ioctl(sock, SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", flags | IFF_UP | IFF_RUNNING))


def create() -> int:
    """A new network namespace with only ``lo``, up; returns a descriptor that holds it."""
    outcome: dict[str, object] = {}

    def in_own_thread() -> None:
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNET)")
            _loopback_up()
            outcome["fd"] = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            outcome["error"] = exc

    # The thread ends in the new namespace; the process's other threads never enter it.
    thread = threading.Thread(target=in_own_thread, name="execbox-netns")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise SandboxError(f"cannot create a network namespace: {outcome['error']}")
    fd = outcome["fd"]
    assert isinstance(fd, int)
    return fd


class NetnsPool:
    """One namespace per uid, made on first use and kept for the process's life."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fds: dict[int, int] = {}

    def for_uid(self, uid: int) -> int:
        with self._lock:
            if uid not in self._fds:
                self._fds[uid] = create()
            return self._fds[uid]
