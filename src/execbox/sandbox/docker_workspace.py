"""The Docker backend's run directory on the host, and the init it bind-mounts.

A workspace is a fresh size-capped tmpfs mounted at ``<data_dir>/runs/docker-<pid>-<run_id>``
with two directories: ``work`` (the run directory, owned by the sandbox user,
bound at ``/box`` in every step's container) and ``status`` (root only, bound at
``/.execbox/status``, where the init writes each step's report).  The host
writes the source files into ``work`` while it is still empty and private, and
reads only the init's reports, without following links; at the end the tmpfs is
detached and its mount point removed, so nothing the program planted is ever
walked or followed.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import InvalidInput, SandboxError, SandboxUnavailable

SANDBOX_UID = 65534
"""The program's uid and gid in every container: Debian's ``nobody``, which owns nothing."""

INIT_SOURCE = Path(__file__).with_name("docker_init.c")
_MNT_DETACH = 2
_MS_NOSUID, _MS_NODEV = 2, 4
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")
_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class HostRun:
    """The host side of one workspace."""

    root: Path
    image: str
    steps: int = 0

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def status(self) -> Path:
        return self.root / "status"


def create_run_dir(
    runs_dir: Path, run_id: str, size_bytes: int, files: Mapping[str, bytes]
) -> Path:
    """Mount a fresh tmpfs for ``run_id`` and write ``files`` into its ``work`` directory."""
    if not _RUN_ID.match(run_id) or run_id in (".", ".."):
        raise SandboxError(f"invalid run id {run_id!r}")
    for name in files:
        if not name or "/" in name or "\x00" in name or name in (".", ".."):
            raise InvalidInput(f"invalid file name {name!r}", field="files")
    runs_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
    root = runs_dir / f"docker-{os.getpid()}-{run_id}"
    root.mkdir(mode=0o700)
    options = f"size={size_bytes},mode=0700,uid=0,gid=0".encode()
    if _libc.mount(b"tmpfs", bytes(root), b"tmpfs", _MS_NOSUID | _MS_NODEV, options) != 0:
        err = ctypes.get_errno()
        root.rmdir()
        raise SandboxUnavailable(
            f"cannot mount the run directory's tmpfs ({os.strerror(err)}); "
            "the docker backend runs as root, next to dockerd"
        )
    try:
        os.mkdir(root / "status", 0o700)
        os.mkdir(root / "work", 0o700)
        os.chown(root / "work", SANDBOX_UID, SANDBOX_UID)
        work_fd = os.open(root / "work", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            for name, data in files.items():
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(name, flags, 0o644, dir_fd=work_fd)
                try:
                    os.fchown(fd, SANDBOX_UID, SANDBOX_UID)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        finally:
            os.close(work_fd)
    except BaseException:
        remove_run_dir(root)
        raise
    return root


def remove_stale_run_dirs(runs_dir: Path, alive: Callable[[int], bool]) -> list[Path]:
    """Remove the run directories of docker-backend processes that are gone (a killed service)."""
    removed: list[Path] = []
    if not runs_dir.is_dir():
        return removed
    for entry in runs_dir.iterdir():
        parts = entry.name.split("-", 2)
        owner_gone = len(parts) == 3 and parts[1].isdigit() and not alive(int(parts[1]))
        if parts[0] == "docker" and owner_gone:
            try:
                remove_run_dir(entry)
                removed.append(entry)
            except SandboxError:
                continue  # not ours to force; the next start tries again
    return removed


def remove_run_dir(root: Path) -> None:
    """Detach the run's tmpfs (its content goes with it) and remove the empty mount point."""
    if _libc.umount2(bytes(root), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise SandboxError(f"cannot unmount {root}: {os.strerror(err)}")
    try:
        os.rmdir(root)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise SandboxError(f"cannot remove {root}: {exc}") from exc


def read_report(status_dir: Path, name: str) -> str | None:
    """The init's report for one step, read without following links; None if it wrote none."""
    dir_fd = os.open(status_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except FileNotFoundError:
        return None
    finally:
        os.close(dir_fd)
    try:
        return os.read(fd, 4096).decode("ascii", errors="replace")
    finally:
        os.close(fd)


def init_binary(data_dir: Path) -> Path:
    """The static init the containers run as PID 1, compiled once per source version."""
    source = INIT_SOURCE.read_bytes()
    target = data_dir / "lib" / f"execbox-docker-init-{hashlib.sha256(source).hexdigest()[:16]}"
    if target.is_file():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SandboxUnavailable("no C compiler to build the container init: apt-get install gcc")
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".docker-init-")
    os.close(fd)
    try:
        done = subprocess.run(
            [compiler, "-O2", "-static", "-o", tmp, str(INIT_SOURCE)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SandboxUnavailable(
                "cannot build the container init statically (apt-get install libc6-dev): "
                + done.stderr.strip()
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
