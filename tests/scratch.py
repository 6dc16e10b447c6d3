"""Data dirs of the tests' own under /var/tmp, removed when the test is done with them.

A data dir holds the run directories (size-capped tmpfs mounts), the prepared roots and
the static inits.  Under /var/tmp rather than pytest's tmp_path: a sandbox user must be
able to traverse the path to its run directory.  A test session leaves none of them
behind; a run directory still mounted inside one when it is removed is the sandbox's leak,
and fails the test that owned the dir (after the mount is detached and the dir removed,
so one leak does not leave a trail behind it).  A session killed before its fixtures could
clean up leaves its dirs, run directories mounted in them included: each dir's name carries
its session's owner tag (pid and start time), and the next session removes those whose
session is gone (:func:`remove_dead_sessions_dirs`).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from execbox.sandbox.leftovers import owner_alive, owner_tag

ROOT = Path("/var/tmp")
KINDS = ("test", "svc", "ws", "web", "scope")
_NAME = re.compile(r"execbox-(?P<kind>[a-z]+)-(?P<tag>[0-9]+\.[0-9]+)-[a-z0-9_]+")


def make_data_dir(kind: str) -> Path:
    """A new, empty ``/var/tmp/execbox-<kind>-<pid>.<start>-XXXXXXXX`` (this session's owner
    tag in its name); remove it with :func:`remove_data_dir`."""
    assert kind in KINDS, kind
    return Path(tempfile.mkdtemp(prefix=f"execbox-{kind}-{owner_tag()}-", dir=ROOT))


def remove_dead_sessions_dirs() -> list[Path]:
    """Remove the data dirs of test sessions that are gone; answers those removed."""
    removed = []
    for entry in sorted(ROOT.glob("execbox-*-*.*-*")):
        named = _NAME.fullmatch(entry.name)
        if named is None or named["kind"] not in KINDS or owner_alive(named["tag"]):
            continue
        for point in mounts_under(entry):
            subprocess.run(["umount", "--lazy", point], check=False, capture_output=True)
        if not mounts_under(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


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
