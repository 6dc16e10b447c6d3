"""The run directory: a private, size-capped tmpfs per run, removed by unmounting.

Both backends keep a run's files in one of these, mounted under the data dir's
``runs/`` and bound at ``/box`` in each of the run's sandboxes.  The host writes
the source files into it *before* any sandboxed code runs, with
``O_NOFOLLOW | O_EXCL`` creation relative to directory descriptors.  After that
it never reads, writes, chowns or walks anything the program could have
touched: cleanup is a lazy unmount of the whole file system, so a planted
symlink or FIFO has nothing to catch.  Mounts are named after their owner
(``<prefix><pid>.<start>_<run id>``, see :mod:`execbox.sandbox.leftovers`) so a
restarted process can unmount what a dead one left.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import re
from collections.abc import Mapping
from pathlib import Path

from execbox.errors import SandboxError
from execbox.program import check_file_name as check_file_name  # the rules live there
from execbox.sandbox.leftovers import orphans, owner_tag

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
MS_NOSUID = 2
MS_NODEV = 4
MNT_DETACH = 2
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def _mount_tmpfs(target: Path, size_bytes: int, uid: int) -> None:
    options = f"size={size_bytes},mode=0700,uid={uid},gid={uid}".encode()
    if _libc.mount(b"tmpfs", bytes(target), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"cannot mount the run directory {target}: {os.strerror(err)}")


def _unmount(target: Path) -> None:
    if _libc.umount2(bytes(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):  # not a mount point, or gone
            raise SandboxError(f"cannot unmount the run directory {target}: {os.strerror(err)}")


def write_files(directory: Path, files: Mapping[str, bytes], uid: int) -> None:
    """Create ``files`` (relative paths) under ``directory``, owned by ``uid``, never
    following a link and never replacing anything."""
    for name in files:
        check_file_name(name)
    root_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        for name, data in files.items():
            *folders, leaf = name.split("/")
            dir_fd = os.dup(root_fd)
            try:
                for folder in folders:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(folder, 0o755, dir_fd=dir_fd)
                        os.chown(folder, uid, uid, dir_fd=dir_fd, follow_symlinks=False)
                    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
                    next_fd = os.open(folder, flags, dir_fd=dir_fd)
                    os.close(dir_fd)
                    dir_fd = next_fd
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
                fd = os.open(leaf, flags, 0o644, dir_fd=dir_fd)
                try:
                    os.fchown(fd, uid, uid)
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                finally:
                    os.close(fd)
            finally:
                os.close(dir_fd)
    except OSError as exc:
        raise SandboxError(f"cannot write the source files: {exc}") from exc
    finally:
        os.close(root_fd)


class RunDir:
    """A mounted, size-capped tmpfs for one run; its root belongs to ``uid``."""

    def __init__(
        self, runs_dir: Path, run_id: str, size_bytes: int, uid: int, prefix: str = ""
    ) -> None:
        if not _RUN_ID.match(run_id):
            raise SandboxError(f"invalid run id {run_id!r}")  # it names files and cgroups
        self.path = runs_dir / f"{prefix}{owner_tag()}_{run_id}"
        try:
            try:
                os.mkdir(self.path, 0o700)
            except FileNotFoundError:  # the first run (runs_dir is made on first need)
                runs_dir.mkdir(parents=True, exist_ok=True, mode=0o711)
                os.mkdir(self.path, 0o700)
        except OSError as exc:
            raise SandboxError(f"cannot create the run directory in {runs_dir}: {exc}") from exc
        try:
            _mount_tmpfs(self.path, size_bytes, uid)
        except BaseException:
            self.remove()
            raise
        self.uid = uid

    def remove(self) -> None:
        _unmount(self.path)
        try:
            self.path.rmdir()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise SandboxError(f"cannot remove the run directory {self.path}: {exc}") from exc


def _owner(entry: Path, prefix: str) -> str | None:
    name = entry.name
    if not name.startswith(prefix):
        return None
    tag, sep, _ = name[len(prefix) :].partition("_")
    return tag if sep and "." in tag else None


def remove_stale(runs_dir: Path, prefix: str = "") -> list[Path]:
    """Unmount and remove the run directories (named with ``prefix``) of owners that are gone."""
    if not runs_dir.is_dir():
        return []
    removed: list[Path] = []
    for entry in orphans(runs_dir.iterdir(), lambda entry: _owner(entry, prefix)):
        with contextlib.suppress(SandboxError, OSError):
            _unmount(entry)
            entry.rmdir()
            removed.append(entry)
    return removed
