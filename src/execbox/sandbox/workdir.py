"""The run directory: a private, size-capped tmpfs per run, removed by unmounting.

The host writes the source files into it *before* any sandboxed code runs, with
``O_NOFOLLOW | O_EXCL`` creation relative to a directory descriptor.  After
that it never reads, writes, chowns or walks anything in it: cleanup is a lazy
unmount of the whole file system, so a planted symlink or FIFO has nothing to
catch.  Mounts are named ``<owner pid>_<run id>`` so a restarted process can
unmount what a dead one left.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path

from execbox.errors import InvalidInput, SandboxError

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
_SAFE_NAME = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


def _mount_tmpfs(target: Path, size_bytes: int, uid: int) -> None:
    options = f"size={size_bytes},mode=0700,uid={uid},gid={uid}".encode()
    if _libc.mount(b"tmpfs", str(target).encode(), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"cannot mount the run directory {target}: {os.strerror(err)}")


def _unmount(target: Path) -> None:
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (22, 2):  # EINVAL: not a mount point; ENOENT: gone
            raise SandboxError(f"cannot unmount the run directory {target}: {os.strerror(err)}")


def check_file_name(name: str) -> str:
    """A source file name the host may create: one plain component, no traversal, no NUL."""
    if not _SAFE_NAME.match(name) or name in {".", ".."}:
        raise InvalidInput(
            f"file name {name!r} must be 1-128 letters, digits, '.', '_' or '-'", field="files"
        )
    return name


class RunDir:
    """A mounted run directory, bound at ``/box`` in each of the run's sandboxes."""

    def __init__(self, root: Path, name: str, size_bytes: int, uid: int) -> None:
        self.path = root / name
        self.path.mkdir(mode=0o700)
        try:
            _mount_tmpfs(self.path, size_bytes, uid)
        except BaseException:
            self.remove()
            raise
        self.uid = uid

    def write_files(self, files: Mapping[str, bytes]) -> None:
        dir_fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            for name, data in files.items():
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(check_file_name(name), flags, 0o644, dir_fd=dir_fd)
                try:
                    os.fchown(fd, self.uid, self.uid)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
        except OSError as exc:
            raise SandboxError(f"cannot write the source files: {exc}") from exc
        finally:
            os.close(dir_fd)

    def remove(self) -> None:
        _unmount(self.path)
        with contextlib.suppress(FileNotFoundError):
            self.path.rmdir()


def remove_stale(root: Path, alive: Callable[[int], bool]) -> int:
    """Unmount and remove run directories whose owning process is gone."""
    removed = 0
    if not root.is_dir():
        return 0
    for entry in root.iterdir():
        owner, sep, _ = entry.name.partition("_")
        if not sep or not owner.isdigit() or alive(int(owner)):
            continue
        _unmount(entry)
        try:
            entry.rmdir()
            removed += 1
        except OSError:
            pass
    return removed
