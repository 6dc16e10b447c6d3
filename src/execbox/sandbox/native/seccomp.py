"""The native backend's seccomp filter: :mod:`execbox.sandbox.policy`'s rules as raw BPF.

Built with libseccomp (through ``pyseccomp``) and handed to the builder as raw
BPF (``--seccomp FD``); the builder loads it just before it execs the sandbox's
init, so everything the program runs is filtered.  The filter is the policy's
allowlist: a call no rule allows fails with ``ENOSYS`` (the default action, which
also covers every call this libseccomp cannot name), the denied ones with
``EPERM``.  Foreign ABIs (i386 ``int 0x80``, x32) fail with ``EPERM``.

A name this libseccomp does not know is skipped: an allowed call it cannot name is
refused by the default, and so is a denied one, so skipping never opens anything.
"""

from __future__ import annotations

import errno
import os
import tempfile
from functools import lru_cache
from typing import Any

from execbox.errors import SandboxUnavailable
from execbox.sandbox.policy import DEFAULT_ERRNO, ArgCheck, seccomp_rules


def _condition(sc: Any, check: ArgCheck) -> Any:
    if check.op == "masked_eq":
        return sc.Arg(check.index, sc.MASKED_EQ, check.mask, check.value)
    op = {"eq": sc.EQ, "lt": sc.LT, "gt": sc.GT}[check.op]
    return sc.Arg(check.index, op, check.value)


@lru_cache(maxsize=1)
def filter_bpf() -> bytes:
    """The compiled filter as raw BPF (built once per process)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # libseccomp.so.2 missing
        raise SandboxUnavailable(
            f"cannot build the seccomp filter ({exc}): apt-get install libseccomp2"
        ) from exc

    flt = sc.SyscallFilter(sc.ERRNO(DEFAULT_ERRNO))
    flt.set_attr(sc.Attr.ACT_BADARCH, sc.ERRNO(errno.EPERM))
    flt.set_attr(sc.Attr.CTL_OPTIMIZE, 2)  # a binary search over ~300 calls, not a list
    for rule in seccomp_rules():
        number = sc.resolve_syscall(sc.Arch.NATIVE, rule.name)
        if number < 0:
            continue  # a name this libseccomp cannot resolve: refused by the default
        action = sc.ALLOW if rule.errno is None else sc.ERRNO(rule.errno)
        flt.add_rule(action, number, *(_condition(sc, c) for c in rule.args))
    with tempfile.TemporaryFile() as handle:
        flt.export_bpf(handle)
        handle.seek(0)
        program = handle.read()
    if not program or len(program) % 8:
        raise SandboxUnavailable("libseccomp produced no usable filter")
    return program


def filter_fd() -> int:
    """A fresh descriptor holding the filter, for the builder's ``--seccomp`` (caller closes)."""
    program = filter_bpf()  # first: a filter that cannot be built must not cost a descriptor
    fd = os.memfd_create("execbox-seccomp", os.MFD_CLOEXEC)
    try:
        view = memoryview(program)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd
