"""Data dirs of the tests' own under /var/tmp, removed when the test is done with them.

A data dir holds the run directories (size-capped tmpfs mounts), the prepared roots and
the static inits.  Under /var/tmp rather than pytest's tmp_path: a sandbox user must be
able to traverse the path to its run directory.  A test session leaves none of them
behind; a run directory still mounted inside one when it is removed is the sandbox's leak,
and fails the test that owned the dir (after the mount is detached and the dir removed,
so one leak does not leave a trail behind it).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path("/var/tmp")


def make_data_dir(kind: str) -> Path:
    """A new, empty ``/var/tmp/execbox-<kind>-XXXXXXXX``; remove it with :func:`remove_data_dir`."""
    return Path(tempfile.mkdtemp(prefix=f"execbox-{kind}-", dir=ROOT))


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` in this process's mount namespace, deepest first."""
    top = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo") as handle:
        for line in handle:
            point = line.split()[4].replace("\\040", " ")
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def remove_data_dir(path: Path) -> None:
    """Remove ``path`` whole; an ``AssertionError`` naming any mount that was still inside.

    Never descends into a mount: each one is detached first (``umount --lazy``, argv only),
    so what another file system holds is never deleted through it."""
    if not path.exists():
        return
    leaked = mounts_under(path)
    for point in leaked:
        subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
    still = mounts_under(path)
    if not still:
        shutil.rmtree(path)
    assert leaked == [], f"left mounted under {path}: {leaked}"
    assert still == []


@contextmanager
def data_dir(kind: str) -> Iterator[Path]:
    """A data dir for the block, removed after it (see :func:`remove_data_dir`)."""
    path = make_data_dir(kind)
    try:
        yield path
    finally:
        remove_data_dir(path)
