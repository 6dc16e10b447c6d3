"""The Docker backend's seccomp profile and masked paths, from the native sandbox's lists.

One policy for both backends: :mod:`execbox.sandbox.policy`'s system-call rules become
a Docker seccomp profile (JSON: the same allowlist, ``ENOSYS`` by default, ``EPERM`` for
what is denied, the same argument rules, only the x86-64 ABI).  runc compiles it with
the same libseccomp, which skips names it cannot resolve.

Docker 20.10 drops the profile's ``defaultErrnoRet``, so its default is ``EPERM``, which
a C library takes for "this call exists and said no" and does not fall back from.  So
the profile also names every other call libseccomp knows with ``ENOSYS``; runc answers
``ENOSYS`` itself for numbers above the highest call a profile names, the newest calls
among them.  What is left at the default are the numbers x86-64 never assigned.

The ``/proc`` files the native sandbox hides are added to Docker's own masked paths.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from execbox.sandbox.policy import (
    DEFAULT_ERRNO,
    MASKED_PROC_DIRS,
    MASKED_PROC_FILES,
    ArgCheck,
    SyscallRule,
    seccomp_rules,
)

_OPS = {"eq": "SCMP_CMP_EQ", "lt": "SCMP_CMP_LT", "gt": "SCMP_CMP_GT"}


def _arg(check: ArgCheck) -> dict[str, int | str]:
    if check.op == "masked_eq":  # Docker's value is the mask, valueTwo what it must equal
        return {"index": check.index, "value": check.mask, "valueTwo": check.value,
                "op": "SCMP_CMP_MASKED_EQ"}  # fmt: skip
    return {"index": check.index, "value": check.value, "valueTwo": 0, "op": _OPS[check.op]}


def _entry(rule: SyscallRule, names: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"names": names}
    if rule.errno is None:
        entry["action"] = "SCMP_ACT_ALLOW"
    else:
        entry.update(action="SCMP_ACT_ERRNO", errnoRet=rule.errno)
    if rule.args:
        entry["args"] = [_arg(check) for check in rule.args]
    return entry


def _nameable_calls() -> list[str]:
    """Every x86-64 call this host's libseccomp (runc's too) can name."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError):  # no libseccomp here: those calls stay at EPERM
        return []
    names = []
    for number in range(1024):
        try:
            names.append(sc.resolve_syscall(sc.Arch.NATIVE, number).decode())
        except ValueError:
            continue
    return names


@lru_cache(maxsize=1)
def seccomp_profile() -> str:
    """The profile as the JSON string ``security_opt=["seccomp=..."]`` takes."""
    entries: list[dict[str, Any]] = []
    plain: dict[int | None, list[str]] = {}  # rules without arguments, one entry per action
    for rule in seccomp_rules():
        if rule.args:
            entries.append(_entry(rule, [rule.name]))
        else:
            plain.setdefault(rule.errno, []).append(rule.name)
    ruled = {rule.name for rule in seccomp_rules()}
    rest = [name for name in _nameable_calls() if name not in ruled]
    plain.setdefault(DEFAULT_ERRNO, []).extend(rest)
    grouped = [_entry(SyscallRule("", action), names) for action, names in plain.items()]
    profile = {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": DEFAULT_ERRNO,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": grouped + entries,
    }
    return json.dumps(profile, separators=(",", ":"))


DOCKER_MASKED = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/kernel",  # sysfs itself stays: Docker mounts the cgroups the init reads under it
)


def masked_paths() -> list[str]:
    """Docker's default masked paths plus the native sandbox's (setting them replaces Docker's)."""
    ours = [f"/proc/{name}" for name in (*MASKED_PROC_FILES, *MASKED_PROC_DIRS)]
    return sorted(set(DOCKER_MASKED) | set(ours))
