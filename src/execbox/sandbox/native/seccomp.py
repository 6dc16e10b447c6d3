"""The native backend's seccomp filter: :mod:`execbox.sandbox.policy`'s rules as raw BPF.

Built with libseccomp (through ``pyseccomp``) and handed to bubblewrap as raw
BPF (``--seccomp FD``); bubblewrap loads it just before it execs the sandbox's
init, so everything the program runs is filtered.  The default is *allow*: the
namespaces, cgroup and unprivileged uid already confine ordinary system calls,
and this filter removes what the kernel does not namespace or what escapes are
made of.  Denied calls fail with EPERM; ``clone3`` fails with ENOSYS so that
threads still start (the C library then falls back to ``clone``, whose flags
the filter can inspect).  Foreign ABIs (i386 ``int 0x80``, x32) fail too.
"""

from __future__ import annotations

import errno
import os
import tempfile
from functools import lru_cache

from execbox.errors import SandboxUnavailable
from execbox.sandbox.policy import (
    ALLOWED_PERSONALITY_BITS,
    DENIED,
    DENIED_SOCKET_FAMILIES,
    NAMESPACE_FLAGS,
    SOCK_PACKET,
    SOCK_RAW,
    SOCK_TYPE_MASK,
)


@lru_cache(maxsize=1)
def filter_bpf() -> bytes:
    """The compiled filter as raw BPF (built once per process)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:  # libseccomp.so.2 missing
        raise SandboxUnavailable(
            f"cannot build the seccomp filter ({exc}): apt-get install libseccomp2"
        ) from exc

    eperm = sc.ERRNO(errno.EPERM)
    flt = sc.SyscallFilter(sc.ALLOW)
    flt.set_attr(sc.Attr.ACT_BADARCH, eperm)
    for name in DENIED:
        try:
            flt.add_rule(eperm, name)
        except (ValueError, RuntimeError):
            continue  # a call this kernel/arch does not have cannot be made anyway
    flt.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:
        flt.add_rule(eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    for family in DENIED_SOCKET_FAMILIES:
        flt.add_rule(eperm, "socket", sc.Arg(0, sc.EQ, family))
        flt.add_rule(eperm, "socketpair", sc.Arg(0, sc.EQ, family))
    for kind in (SOCK_RAW, SOCK_PACKET):
        flt.add_rule(eperm, "socket", sc.Arg(1, sc.MASKED_EQ, SOCK_TYPE_MASK, kind))
    # personality: PER_LINUX and the harmless bits Docker allows; any other bit is refused
    # (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, other execution domains).  libseccomp takes one
    # comparison per argument, so the 0xffffffff query is refused too; nothing common uses it.
    for bit in range(64):
        if not (1 << bit) & ALLOWED_PERSONALITY_BITS:
            flt.add_rule(eperm, "personality", sc.Arg(0, sc.MASKED_EQ, 1 << bit, 1 << bit))
    with tempfile.TemporaryFile() as handle:
        flt.export_bpf(handle)
        handle.seek(0)
        program = handle.read()
    if not program or len(program) % 8:
        raise SandboxUnavailable("libseccomp produced no usable filter")
    return program


def filter_fd() -> int:
    """A fresh descriptor holding the filter, for bubblewrap's ``--seccomp`` (caller closes)."""
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
