"""The Docker backend's run directory on the host, and the init it bind-mounts.

A workspace is a fresh size-capped tmpfs mounted at ``<data_dir>/runs/docker-<owner>_<run_id>``
(:mod:`execbox.sandbox.rundir`)
with two directories: ``work`` (the run directory, owned by the sandbox user,
bound at ``/box`` in every step's container) and ``status`` (root only, bound at
``/.execbox/status``, where the init writes each step's report).  The host
writes the source files into ``work`` while it is still empty and private, and
reads only the init's reports, without following links; at the end the tmpfs is
detached and its mount point removed, so nothing the program planted is ever
walked or followed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxError
from execbox.sandbox.initbin import static_binary
from execbox.sandbox.rundir import RunDir, remove_stale, write_files

SANDBOX_UID = 65534
"""The program's uid and gid in every container: Debian's ``nobody``, which owns nothing."""

INIT_SOURCE = Path(__file__).with_name("init.c")
PREFIX = "docker-"


@dataclass
class HostRun:
    """The host side of one workspace."""

    rundir: RunDir
    image: str
    steps: int = 0

    @property
    def root(self) -> Path:
        return self.rundir.path

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def status(self) -> Path:
        return self.root / "status"


def create_run_dir(
    runs_dir: Path, run_id: str, size_bytes: int, files: Mapping[str, bytes]
) -> RunDir:
    """Mount a fresh tmpfs for ``run_id`` and write ``files`` into its ``work`` directory."""
    rundir = RunDir(runs_dir, run_id, size_bytes, uid=0, prefix=PREFIX)
    try:
        try:
            os.mkdir(rundir.path / "status", 0o700)
            os.mkdir(rundir.path / "work", 0o700)
            os.chown(rundir.path / "work", SANDBOX_UID, SANDBOX_UID)
        except OSError as exc:
            raise SandboxError(f"cannot prepare the run directory: {exc}") from exc
        write_files(rundir.path / "work", files, SANDBOX_UID)
    except BaseException:
        rundir.remove()
        raise
    return rundir


def remove_stale_run_dirs(runs_dir: Path) -> list[Path]:
    """Remove the run directories of docker-backend processes that are gone (a killed service)."""
    return remove_stale(runs_dir, PREFIX)


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
    return static_binary(INIT_SOURCE, data_dir, "execbox-docker-init")
