"""Host processes seen through ``/proc``: the uid one runs as, and those of a uid range.

Every sandbox's processes run as the host uid lent to its run, and each test session (or
service, or worker a test starts) lends uids from a range of its own: the processes of
that range are its sandboxes', and none may outlive them.  The one place tests read
``/proc/<pid>/status`` for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class HostProcess:
    """One process as ``/proc/<pid>/status`` and ``cmdline`` show it."""

    pid: int
    uid: int
    """Its real uid."""
    name: str
    """``Name:`` (the first 15 bytes of the program's name: ``bwrap``, ``python3``)."""
    state: str
    """``State:`` (``S (sleeping)``, ``Z (zombie)``, ...)."""
    ppid: int
    cmdline: str

    @property
    def gone(self) -> bool:
        """Exited and not yet reaped (a zombie), or dead."""
        return self.state[:1] in ("Z", "X")

    def __str__(self) -> str:
        return (
            f"{self.pid} uid={self.uid} ppid={self.ppid} {self.state} {self.cmdline or self.name}"
        )


def _status(pid: int | str) -> dict[str, str] | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:  # gone meanwhile
        return None
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return fields


def process_uid(pid: int | str) -> int | None:
    """The real uid process ``pid`` runs as; None once it is gone."""
    status = _status(pid)
    return None if status is None else int(status["Uid"].split()[0])


def _cmdline(pid: int | str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode(errors="replace")


def processes_of_uids(uids: range, *, zombies: bool = True) -> list[HostProcess]:
    """Every process on this host running as a uid of ``uids`` (``zombies=False``: but those
    exited and not yet reaped)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _status(entry.name)
        if status is None or int(status["Uid"].split()[0]) not in uids:
            continue
        process = HostProcess(
            pid=int(entry.name),
            uid=int(status["Uid"].split()[0]),
            name=status.get("Name", ""),
            state=status.get("State", ""),
            ppid=int(status.get("PPid", "0")),
            cmdline=_cmdline(entry.name),
        )
        if zombies or not process.gone:
            found.append(process)
    return found
