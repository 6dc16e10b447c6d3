"""Who owns a leftover: cleaning up what a dead execbox process left behind.

Every host object a sandbox makes (run directories, cgroups, containers) is named or
labelled with its owner: the pid of the execbox process *and* that process's start time
(``<pid>.<start ticks>``).  A pid alone is not enough: after a reboot or a wrap-around
another process may hold the same pid, and the leftover would never be removed.  A
process starting up removes whatever names an owner that is gone.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from typing import TypeVar

T = TypeVar("T")


def process_start(pid: int) -> str:
    """The start time of ``pid`` in clock ticks since boot, or "" if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return ""
    # The command name (field 2) may hold spaces and parentheses: split after its last ")".
    fields = stat[stat.rindex(b")") + 2 :].split()
    return fields[19].decode() if len(fields) > 19 else ""


def owner_tag(pid: int | None = None) -> str:
    """``<pid>.<start>`` of this process (or ``pid``): what leftovers are named after."""
    if pid is None:
        return _own_tag(os.getpid())  # by pid: a forked child has a tag of its own
    return f"{pid}.{process_start(pid)}"


@functools.lru_cache(maxsize=1)
def _own_tag(pid: int) -> str:
    """This process's tag, read once (it is on every run directory's path)."""
    return f"{pid}.{process_start(pid)}"


def owner_alive(tag: str) -> bool:
    """Whether the process a tag names still runs (same pid, same start time)."""
    pid, _, start = tag.partition(".")
    if not pid.isdigit():
        return True  # not a tag of ours: never touch it
    return process_start(int(pid)) == start


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def orphans(entries: Iterable[T], owner_of: Callable[[T], str | None]) -> list[T]:
    """The entries whose owner tag names a process that is gone (None: not ours, kept)."""
    found: list[T] = []
    for entry in entries:
        tag = owner_of(entry)
        if tag is not None and not owner_alive(tag):
            found.append(entry)
    return found
