"""The Docker backend's run directory on the host, and the init it bind-mounts.

A workspace is a fresh size-capped tmpfs mounted at ``<data_dir>/runs/docker-<owner>_<run_id>``
(:mod:`execbox.sandbox.rundir`) with one directory, ``work`` (the run directory,
owned by the run's lent uid, bound at ``/box`` in every step's container).  The
host writes the source files into ``work`` while it is still empty and private
and never reads it: the init's report comes over the container's stdout, not
through a file.  At the end the tmpfs is detached and its mount point removed,
so nothing the program planted is ever walked or followed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from execbox.errors import SandboxError
from execbox.sandbox.initbin import static_binary
from execbox.sandbox.rundir import RunDir, remove_stale, write_files

INIT_SOURCE = Path(__file__).with_name("init.c")
PREFIX = "docker-"


@dataclass
class HostRun:
    """The host side of one workspace."""

    rundir: RunDir
    image: str | None
    """The image of the language the files are in; a step naming its language uses its own."""
    uid: int
    """The host uid (and gid) lent to this run: its program runs as it in every step."""
    steps: int = 0

    @property
    def root(self) -> Path:
        return self.rundir.path

    @property
    def work(self) -> Path:
        return self.root / "work"


def create_run_dir(
    runs_dir: Path, run_id: str, size_bytes: int, files: Mapping[str, bytes], uid: int
) -> RunDir:
    """Mount a fresh tmpfs for ``run_id`` and write ``files`` into its ``work`` directory,
    which belongs to ``uid``."""
    rundir = RunDir(runs_dir, run_id, size_bytes, uid=0, prefix=PREFIX)
    try:
        try:
            os.mkdir(rundir.path / "work", 0o700)
            os.chown(rundir.path / "work", uid, uid)
        except OSError as exc:
            raise SandboxError(f"cannot prepare the run directory: {exc}") from exc
        write_files(rundir.path / "work", files, uid)
    except BaseException:
        rundir.remove()
        raise
    return rundir


def remove_stale_run_dirs(runs_dir: Path) -> list[Path]:
    """Remove the run directories of docker-backend processes that are gone (a killed service)."""
    return remove_stale(runs_dir, PREFIX)


def init_binary(data_dir: Path) -> Path:
    """The static init the containers run as PID 1, compiled once per source version."""
    return static_binary(INIT_SOURCE, data_dir, "execbox-docker-init")
