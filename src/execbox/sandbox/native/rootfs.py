"""The sandbox's root: a small prepared tree, bound read-only as ``/`` of every sandbox.

Built once per content under the data dir, it holds everything a sandbox's
root needs that is not the host's ``/usr``: the ``bin``/``lib`` links into
``/usr``, a generated ``/etc`` (the sandbox user, ``localhost``, the dynamic
linker's cache, which lists only public library paths), a minimal ``/dev``
(null, zero, full, random, urandom, tty as real device nodes, the fd links,
a mount point for ``/dev/shm``), the init binary, and mount points.  One bind
of this tree replaces some thirty mount and link operations per sandbox.

Where the data dir's file system forbids device nodes (``nodev``), the tree
leaves ``/dev`` empty and the sandbox binds the host's device nodes instead.
Empty directories stand in for host paths a language binds under ``/etc``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

SANDBOX_UID = 1000
SANDBOX_USER = "sandbox"
HOSTNAME = "sandbox"
WORKDIR = "/box"
INIT = ".execbox-init"

ETC_FILES = {
    "passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:{SANDBOX_USER}:{WORKDIR}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
    "hostname": f"{HOSTNAME}\n",
    "hosts": f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "resolv.conf": "",
}
DEVICES = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
DEV_LINKS = {
    "fd": "/proc/self/fd",
    "stdin": "/proc/self/fd/0",
    "stdout": "/proc/self/fd/1",
    "stderr": "/proc/self/fd/2",
}
USR_LINKS = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}
MOUNT_POINTS = ("usr", "proc", "tmp", "box", "dev/shm")


def device_nodes_allowed(directory: Path) -> bool:
    """Whether device nodes on ``directory``'s file system can be opened (no ``nodev``)."""
    return not os.statvfs(directory).f_flag & os.ST_NODEV


def build_root(data_dir: Path, init_binary: Path, bind_points: Iterable[str]) -> Path:
    """The prepared root under ``data_dir`` (built once per content, atomically)."""
    # Mount points for a language's extra binds outside /usr, of the host path's own kind
    # (a directory, or a file such as /etc/fpc.cfg).
    points = sorted({(p, os.path.isdir(p)) for p in bind_points if not p.startswith("/usr/")})
    ld_cache = Path("/etc/ld.so.cache")
    cache = ld_cache.read_bytes() if ld_cache.is_file() else b""
    data_dir.mkdir(parents=True, exist_ok=True)
    with_devices = device_nodes_allowed(data_dir)
    digest = hashlib.sha256(
        repr((sorted(ETC_FILES.items()), points, init_binary.name, with_devices)).encode()
        + hashlib.sha256(cache).digest()
    ).hexdigest()[:16]
    target = data_dir / f"root-{digest}"
    if target.is_dir():
        return target
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".root-"))
    try:
        for name, link in USR_LINKS.items():
            (staging / name).symlink_to(link)
        for point in MOUNT_POINTS:
            (staging / point).mkdir(parents=True)
        etc = staging / "etc"
        etc.mkdir()
        for name, text in ETC_FILES.items():
            (etc / name).write_text(text)
        if cache:
            (etc / "ld.so.cache").write_bytes(cache)
        for point, is_dir in points:
            where = staging / point.lstrip("/")
            if is_dir:
                where.mkdir(parents=True, exist_ok=True)
            else:
                where.parent.mkdir(parents=True, exist_ok=True)
                where.touch()
        dev = staging / "dev"
        for name, link in DEV_LINKS.items():
            (dev / name).symlink_to(link)
        for name, (major, minor) in DEVICES.items():
            if with_devices:
                os.mknod(dev / name, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
                os.chmod(dev / name, 0o666)
            else:
                (dev / name).touch()  # a mount point for the host's node
        shutil.copyfile(init_binary, staging / INIT)
        for path in [staging, *staging.rglob("*")]:
            if path.is_symlink() or path.is_char_device():
                continue
            os.chmod(path, 0o755 if path.is_dir() or path.name == INIT else 0o644)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
