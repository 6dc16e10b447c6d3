"""The Docker backend's seccomp profile and masked paths, from the native sandbox's lists.

One policy for both backends: the system calls, socket families, namespace flags and
personality bits :mod:`execbox.sandbox.policy` denies become a Docker seccomp profile
(JSON, allow by default, ``EPERM`` for what is denied, only the x86-64 ABI), and the
``/proc`` files the native sandbox hides are added to Docker's own masked paths.
"""

from __future__ import annotations

import errno
import json
from functools import lru_cache
from typing import Any

from execbox.sandbox.policy import (
    ALLOWED_PERSONALITY_BITS,
    DENIED,
    DENIED_SOCKET_FAMILIES,
    MASKED_PROC_DIRS,
    MASKED_PROC_FILES,
    NAMESPACE_FLAGS,
    SOCK_PACKET,
    SOCK_RAW,
    SOCK_TYPE_MASK,
)


def _deny(names: list[str], *args: dict[str, int | str], errno_ret: int = errno.EPERM) -> Any:
    rule: dict[str, Any] = {"names": names, "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret}
    if args:
        rule["args"] = list(args)
    return rule


def _arg(index: int, op: str, value: int, value_two: int = 0) -> dict[str, int | str]:
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


@lru_cache(maxsize=1)
def seccomp_profile() -> str:
    """The profile as the JSON string ``security_opt=["seccomp=..."]`` takes."""
    rules = [_deny(list(DENIED)), _deny(["clone3"], errno_ret=errno.ENOSYS)]
    rules += [_deny(["clone"], _arg(0, "SCMP_CMP_MASKED_EQ", f, f)) for f in NAMESPACE_FLAGS]
    for family in DENIED_SOCKET_FAMILIES:
        rules.append(_deny(["socket", "socketpair"], _arg(0, "SCMP_CMP_EQ", family)))
    for kind in (SOCK_RAW, SOCK_PACKET):
        rules.append(_deny(["socket"], _arg(1, "SCMP_CMP_MASKED_EQ", SOCK_TYPE_MASK, kind)))
    for bit in range(64):
        if not (1 << bit) & ALLOWED_PERSONALITY_BITS:
            mask = 1 << bit
            rules.append(_deny(["personality"], _arg(0, "SCMP_CMP_MASKED_EQ", mask, mask)))
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "defaultErrnoRet": errno.EPERM,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": rules,
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
