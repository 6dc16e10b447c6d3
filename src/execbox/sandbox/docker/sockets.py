"""Socket buffers of a container charged to its memory cgroup, on cgroup v1 hosts.

cgroup v1 charges a cgroup's TCP and UDP buffers to nothing unless the cgroup's
``memory.kmem.tcp.limit_in_bytes`` has been written, after which every socket
its processes create is charged to a counter of its own with that limit (cgroup
v2 charges socket memory to ``memory.max`` without being asked).  Docker takes
``KernelMemoryTCP`` but runc 1.x ignores it, so the host writes the file itself,
into the cgroup of the container's init, after the container starts and before
the init is told to start the program: every socket the program makes is then
charged.  The path comes from ``/proc/<init pid>/cgroup``, which the kernel
writes; nothing in it is the program's.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from execbox.errors import SandboxError

log = logging.getLogger(__name__)

MEMORY_ROOT = Path("/sys/fs/cgroup/memory")
TCP_LIMIT = "memory.kmem.tcp.limit_in_bytes"
_warned: set[str] = set()


def memory_cgroup(pid: int, proc: Path = Path("/proc")) -> Path | None:
    """The cgroup v1 memory directory of ``pid``; None if it is gone, ended or not in one."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None  # the init already ended (it reports why)
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            # An ended process (a zombie till reaped) shows the root: a container never runs
            # there, and the root's limits are the host's, never to be written.
            return MEMORY_ROOT / path.lstrip("/") if path.strip("/") else None
    return None


def charge_socket_buffers(pid: int, limit_bytes: int) -> bool:
    """Charge the socket buffers of ``pid``'s memory cgroup, up to ``limit_bytes``.

    False if there is nothing to do it to (the process is gone); raises
    :class:`SandboxError` if the cgroup refuses."""
    cgroup = memory_cgroup(pid)
    if cgroup is None:
        return False
    try:
        fd = os.open(cgroup / TCP_LIMIT, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        if not (cgroup / "cgroup.procs").exists():
            return False  # the container's cgroup is already gone
        if str(MEMORY_ROOT) not in _warned:
            _warned.add(str(MEMORY_ROOT))
            log.warning("this kernel has no %s: socket buffers stay uncharged", TCP_LIMIT)
        return False
    except OSError as exc:
        raise SandboxError(f"cannot open {cgroup / TCP_LIMIT}: {exc}") from exc
    try:
        os.write(fd, str(limit_bytes).encode())
    except OSError as exc:
        raise SandboxError(f"cannot limit the socket buffers in {cgroup}: {exc}") from exc
    finally:
        os.close(fd)
    return True
