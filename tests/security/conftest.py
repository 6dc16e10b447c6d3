"""Host-side invariants checked after every attack (SECURITY.md, G1-G5).

G1 (no process, no cgroup, no run directory) is the ``leftovers`` fixture every
``run`` uses; this adds: no mount left under the data dir, and host canary files
keep their content, owner and mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from execbox.sandbox.native.backend import close_all
from execbox.settings import Settings

CANARY_TEXT = "host canary: must never change\n"


@pytest.fixture(scope="session")
def canaries(data_dir: Path) -> Iterator[list[Path]]:
    files = []
    for directory in (data_dir, Path("/var/tmp")):
        path = directory / f"execbox-canary-{os.getpid()}"
        path.write_text(CANARY_TEXT)
        os.chmod(path, 0o600)
        files.append(path)
    yield files
    for path in files:  # checked after each test (host_invariants); nothing left behind
        path.unlink()


def _mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as handle:
        return [line.split()[4] for line in handle if line.split()[4].startswith(str(path))]


@pytest.fixture(autouse=True)
def host_invariants(canaries: list[Path], settings: Settings) -> Iterator[None]:
    before = {path: path.stat() for path in canaries}
    yield
    for path, stat in before.items():
        now = path.stat()
        assert path.read_text() == CANARY_TEXT
        assert (now.st_uid, now.st_gid, now.st_mode) == (stat.st_uid, stat.st_gid, stat.st_mode)
    close_all()  # the sandboxes' teardowns (in the background) are done
    assert _mounts_under(settings.data_dir) == []
