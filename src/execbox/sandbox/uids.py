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
    def __init__(self, base: int, count: int, lock_dir: Path = LOCK_DIR) -> None:
        self.base = base
        self.count = count
        self.lock_dir = lock_dir

    def acquire(self) -> Lease:
        self.lock_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        for offset in range(self.count):
            uid = self.base + offset
            fd = os.open(self.lock_dir / str(uid), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return Lease(uid, fd)
        raise SandboxError(f"all {self.count} sandbox uids are in use")
