"""A pool of unprivileged host uids, one held by each running sandbox, for both backends.

bubblewrap started as root maps the sandbox user to host root; started as an
unprivileged uid it maps the sandbox user to that uid.  A Docker container
without a user namespace runs as the host uid it is given.  Each run therefore
gets its own host uid (and gid of the same number) from a range no real user
owns, held with an ``flock`` on a file under ``/run/execbox/uids`` so that
separate execbox processes on one host, whichever backend they use, never share
one.  Per-user kernel limits (inotify instances, POSIX message queue bytes,
processes) are then per run, not shared by every run on the host.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxError

LOCK_DIR = Path("/run/execbox/uids")


@dataclass
class Lease:
    uid: int
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1


class UidPool:
    """The uids ``base`` .. ``base + count - 1``.  Each search starts after the uid handed
    out last, so a uid just given back is the last to be lent again (and a busy pool does
    not try every held uid from the start on each acquire)."""

    def __init__(self, base: int, count: int, lock_dir: Path = LOCK_DIR) -> None:
        self.base = base
        self.count = count
        self.lock_dir = lock_dir
        self._next = 0
        """The offset the next search starts at (a race between threads only moves it)."""

    def acquire(self) -> Lease:
        start = self._next
        for step in range(self.count):
            offset = (start + step) % self.count
            uid = self.base + offset
            fd = self._open(uid)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self._next = (offset + 1) % self.count
            return Lease(uid, fd)
        raise SandboxError(f"all {self.count} sandbox uids are in use")

    def _open(self, uid: int) -> int:
        path = f"{self.lock_dir}/{uid}"
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC
        try:
            return os.open(path, flags, 0o600)
        except FileNotFoundError:  # the first use (or /run was emptied)
            self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            return os.open(path, flags, 0o600)
