"""What every sandbox backend enforces, as data: one policy, two backends.

The native backend compiles the system-call rules into BPF for bubblewrap
(:mod:`execbox.sandbox.native.seccomp`); the Docker backend turns the same rules
into a seccomp profile (:mod:`execbox.sandbox.docker.profile`).  Both hide the same
``/proc`` paths, give the program the same CPU-time rlimits and process count, and
decide "the CPU-time limit ended this step" the same way, so one program gets the
same status on either backend.

The system-call rules are an allowlist in the manner of Docker's default profile:
:data:`ALLOWED` is what real toolchains need (measured by tracing the languages'
compile and run steps, and as generous as Docker's list for ordinary calls).  A call
that is not allowed fails with ``ENOSYS``, as on a kernel without it, so C libraries
and runtimes take their fallbacks; this covers every call added to the kernel later
and every call libseccomp cannot name.  The known-dangerous calls in :data:`DENIED`
fail with ``EPERM``.  A few calls are allowed only for some arguments
(:func:`seccomp_rules`); for each of them the rules split every possible argument
value into exactly one allowed or refused case, because libseccomp lets a rule
without arguments override the rules with them and takes one comparison per
argument, and a kernel that reads an ``int`` argument ignores its upper 32 bits.
"""

from __future__ import annotations

import errno
import math
import signal
from dataclasses import dataclass
from typing import Literal

from execbox.limits import Limits


def _names(text: str) -> tuple[str, ...]:
    """System-call names written as lines of words, grouped by what they do."""
    return tuple(text.split())


ALLOWED = _names(
    """
    read write open openat openat2 close close_range creat lseek pread64 pwrite64 readv writev
    preadv preadv2 pwritev pwritev2 sendfile splice tee vmsplice copy_file_range readahead
    dup dup2 dup3 pipe pipe2 ioctl flock fsync fdatasync sync syncfs sync_file_range fallocate
    fadvise64 truncate ftruncate
    stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2 getdents
    getdents64 getcwd chdir fchdir mkdir mkdirat rmdir rename renameat renameat2 link linkat
    unlink unlinkat symlink symlinkat readlink readlinkat mknod mknodat umask
    chmod fchmod fchmodat fchmodat2 chown fchown fchownat lchown utime utimes utimensat futimesat
    getxattr lgetxattr fgetxattr setxattr lsetxattr fsetxattr listxattr llistxattr flistxattr
    removexattr lremovexattr fremovexattr
    brk mmap munmap mremap mprotect madvise mincore msync mlock mlock2 mlockall munlock
    munlockall membarrier memfd_create remap_file_pages pkey_alloc pkey_free pkey_mprotect
    execve execveat fork vfork exit exit_group wait4 waitid kill tkill tgkill pidfd_open
    pidfd_send_signal process_mrelease getpid getppid gettid getpgid setpgid getpgrp getsid
    setsid prctl arch_prctl set_tid_address set_robust_list get_robust_list rseq
    get_thread_area set_thread_area seccomp landlock_create_ruleset landlock_add_rule
    landlock_restrict_self capget capset
    getuid geteuid getgid getegid getresuid getresgid getgroups setuid setgid setreuid
    setregid setresuid setresgid setfsuid setfsgid setgroups
    getrlimit setrlimit prlimit64 getrusage getpriority setpriority ioprio_get ioprio_set
    sched_yield sched_getaffinity sched_setaffinity sched_getattr sched_setattr
    sched_getparam sched_setparam sched_getscheduler sched_setscheduler
    sched_get_priority_max sched_get_priority_min sched_rr_get_interval getcpu uname sysinfo
    rt_sigaction rt_sigprocmask rt_sigpending rt_sigsuspend rt_sigtimedwait rt_sigqueueinfo
    rt_tgsigqueueinfo rt_sigreturn sigaltstack signalfd signalfd4 pause restart_syscall
    futex futex_waitv futex_wake futex_wait futex_requeue map_shadow_stack
    time gettimeofday clock_gettime clock_getres clock_nanosleep nanosleep times alarm
    getitimer setitimer timer_create timer_delete timer_getoverrun timer_gettime
    timer_settime timerfd_create timerfd_gettime timerfd_settime eventfd eventfd2
    poll ppoll select pselect6 epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait
    epoll_pwait2
    bind connect listen accept accept4 shutdown getsockname getpeername getsockopt setsockopt
    sendto sendmsg sendmmsg recvfrom recvmsg recvmmsg
    msgget msgsnd msgrcv msgctl semget semop semtimedop semctl shmget shmat shmdt shmctl
    mq_open mq_unlink mq_timedsend mq_timedreceive mq_notify mq_getsetattr
    getrandom
    """
)
"""Allowed with any arguments (x86-64 names; Docker's default list with the changes below)."""

DENIED = _names(
    """
    mount umount2 pivot_root chroot move_mount open_tree fsopen fsconfig fsmount fspick
    mount_setattr unshare setns
    ptrace process_vm_readv process_vm_writev pidfd_getfd kcmp process_madvise
    bpf perf_event_open userfaultfd io_uring_setup io_uring_enter io_uring_register keyctl
    add_key request_key fanotify_init open_by_handle_at name_to_handle_at lookup_dcookie
    quotactl quotactl_fd memfd_secret
    kexec_load kexec_file_load init_module finit_module delete_module reboot swapon swapoff
    acct syslog settimeofday clock_settime clock_adjtime adjtimex iopl ioperm uselib vhangup
    nfsservctl sethostname setdomainname
    """
)
"""Refused with EPERM: file systems and namespaces; other processes' memory and
descriptors; kernel attack surface that is not namespaced (``memfd_secret`` takes pages
out of the kernel's direct map); the machine itself."""

ABSENT = {
    "io_setup io_destroy io_submit io_cancel io_getevents io_pgetevents": (
        "AIO contexts count against the host-wide fs.aio-max-nr: one run could take them all"
    ),
    "inotify_init inotify_init1 inotify_add_watch inotify_rm_watch fanotify_mark": (
        "watches on the shared read-only paths would show what other runs and the host open"
    ),
    "cachestat": "page-cache residency of shared files is another run's activity",
    "get_mempolicy set_mempolicy mbind set_mempolicy_home_node migrate_pages move_pages": (
        "NUMA placement is the host's; Docker allows these only with CAP_SYS_NICE"
    ),
    "modify_ldt": "16-bit segments: nothing here needs them, and they have a history of CVEs",
    "clone3": "its flags are in memory the filter cannot read: libcs fall back to clone",
}
"""Calls Docker's default profile allows (or newer ones a toolchain may try) that fail here
with ENOSYS, as on a kernel built without them, so programs take their fallbacks."""

DEFAULT_ERRNO = errno.ENOSYS
"""What every call not in :data:`ALLOWED` or :data:`DENIED`, nor ruled on below, fails with."""

NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME (in clone's exit-signal byte, where no valid signal has it)
)
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCKET_FAMILIES = (AF_UNIX, AF_INET, AF_INET6)
"""The only socket families a program may open: netlink (queues the memory cgroup does not
see), packet, vsock, TIPC, RDS and every family a kernel has or will have are refused."""
SOCK_TYPE_MASK = 0xF
SOCK_STREAM, SOCK_DGRAM = 1, 2
INET_SOCKET_TYPES = (SOCK_STREAM, SOCK_DGRAM)
"""TCP and UDP (and unprivileged ICMP datagrams); raw, packet and SCTP sockets are refused."""
PERSONALITIES = (0x0, 0x0008, 0x20000, 0x20008)
"""PER_LINUX, with UNAME26 and ADDR_COMPAT_LAYOUT or not: what Docker's default allows."""
PERSONALITY_QUERY = 0xFFFFFFFF
"""personality(0xffffffff) reads the personality and changes nothing (GCL exits without it)."""
F_NOTIFY = 1026
"""fcntl's dnotify: directory change notifications on shared paths, refused like inotify."""

_UINT_BITS = 32  # an int or unsigned int argument: the kernel reads its low 32 bits only


@dataclass(frozen=True)
class ArgCheck:
    """One comparison of a call's argument ``index``: ``arg == value``, ``arg < value``,
    ``arg > value`` (all 64 bits), or ``arg & mask == value`` (``masked_eq``)."""

    index: int
    op: Literal["eq", "lt", "gt", "masked_eq"]
    value: int
    mask: int = 0


@dataclass(frozen=True)
class SyscallRule:
    """A call allowed (``errno`` None) or failing with ``errno`` when all ``args`` hold."""

    name: str
    errno: int | None
    args: tuple[ArgCheck, ...] = ()


def _eq(index: int, value: int) -> ArgCheck:
    return ArgCheck(index, "eq", value)


def _masked(index: int, mask: int, value: int) -> ArgCheck:
    return ArgCheck(index, "masked_eq", value, mask)


def _clone_rules() -> list[SyscallRule]:
    """No namespace flag: allowed; any of them: EPERM (they sit in the low 32 bits, which
    the kernel reads)."""
    any_namespace = 0
    for flag in NAMESPACE_FLAGS:
        any_namespace |= flag
    rules = [SyscallRule("clone", None, (_masked(0, any_namespace, 0),))]
    rules += [SyscallRule("clone", errno.EPERM, (_masked(0, f, f),)) for f in NAMESPACE_FLAGS]
    return rules


def _family_rules(name: str, allowed: tuple[int, ...]) -> list[SyscallRule]:
    """``allowed`` families (exact 64-bit values) pass; every other value is EPERM."""
    low, high = min(allowed), max(allowed)
    refused = [SyscallRule(name, errno.EPERM, (ArgCheck(0, "lt", low),))]
    refused.append(SyscallRule(name, errno.EPERM, (ArgCheck(0, "gt", high),)))
    gaps = [f for f in range(low + 1, high) if f not in allowed]
    refused += [SyscallRule(name, errno.EPERM, (_eq(0, f),)) for f in gaps]
    return refused


def _socket_rules() -> list[SyscallRule]:
    """AF_UNIX of any type; AF_INET and AF_INET6 streams and datagrams; nothing else."""
    rules = [SyscallRule("socket", None, (_eq(0, AF_UNIX),))]
    for family in (AF_INET, AF_INET6):
        for kind in range(SOCK_TYPE_MASK + 1):
            action = None if kind in INET_SOCKET_TYPES else errno.EPERM
            checks = (_eq(0, family), _masked(1, SOCK_TYPE_MASK, kind))
            rules.append(SyscallRule("socket", action, checks))
    rules += _family_rules("socket", SOCKET_FAMILIES)
    rules.append(SyscallRule("socketpair", None, (_eq(0, AF_UNIX),)))
    rules += _family_rules("socketpair", (AF_UNIX,))
    return rules


def _personality_rules() -> list[SyscallRule]:
    """The allowed personalities and the 0xffffffff query; every other value: EPERM.

    Split on bit 0, which only the query has among the allowed values: with bit 0 set,
    a value is refused if some other of the low 32 bits is clear (it is not the query);
    with bit 0 clear, if it has a bit no allowed personality has.  Above 32 bits: EPERM."""
    allowed_bits = 0
    for value in PERSONALITIES:
        allowed_bits |= value
    allowed = (*PERSONALITIES, PERSONALITY_QUERY)
    rules = [SyscallRule("personality", None, (_eq(0, v),)) for v in allowed]
    rules.append(SyscallRule("personality", errno.EPERM, (ArgCheck(0, "gt", PERSONALITY_QUERY),)))
    for bit in range(1, _UINT_BITS):
        mask = 1 << bit | 1
        rules.append(SyscallRule("personality", errno.EPERM, (_masked(0, mask, 1),)))
        if not (1 << bit) & allowed_bits:
            rules.append(SyscallRule("personality", errno.EPERM, (_masked(0, mask, 1 << bit),)))
    return rules


def _fcntl_rules() -> list[SyscallRule]:
    """Every command but F_NOTIFY.  The kernel reads the command's low 32 bits, so the
    refusal compares those, and "not F_NOTIFY" is "some low bit differs from it"."""
    low = (1 << _UINT_BITS) - 1
    rules = [SyscallRule("fcntl", errno.EPERM, (_masked(1, low, F_NOTIFY),))]
    for bit in range(_UINT_BITS):
        mask = 1 << bit
        rules.append(SyscallRule("fcntl", None, (_masked(1, mask, (F_NOTIFY ^ mask) & mask),)))
    return rules


def seccomp_rules() -> tuple[SyscallRule, ...]:
    """Every rule of the filter; a call none of them matches fails with DEFAULT_ERRNO."""
    rules = [SyscallRule(name, None) for name in ALLOWED]
    rules += [SyscallRule(name, errno.EPERM) for name in DENIED]
    rules += _clone_rules() + _socket_rules() + _personality_rules() + _fcntl_rules()
    return tuple(rules)


# Docker's masked /proc paths: files hidden behind /dev/null, directories behind an
# empty read-only tmpfs.  bubblewrap itself makes sys, sysrq-trigger, irq and bus
# read-only; files only host root may read need no mask (the sandbox user is not host
# root).  Only paths this kernel has are listed: a missing one would fail the mount.
MASKED_PROC_FILES = (
    "kcore",
    "keys",
    "key-users",
    "timer_list",
    "timer_stats",
    "sched_debug",
    "latency_stats",
    "kallsyms",
    "config.gz",
    "slabinfo",
    "vmallocinfo",
    "pagetypeinfo",
)
MASKED_PROC_DIRS = ("acpi", "scsi", "asound", "firmware")


CPU_LIMIT_SLACK = 0.95
"""A step killed by SIGKILL or SIGXCPU after this share of its CPU-time limit hit that limit."""


def cpu_rlimit(limits: Limits) -> tuple[int, int]:
    """RLIMIT_CPU (soft, hard) in whole seconds: SIGXCPU at the limit, SIGKILL a second on."""
    soft = max(1, math.ceil(limits.cpu_time_s))
    return soft, soft + 1


def file_size_rlimit(limits: Limits) -> int:
    """RLIMIT_FSIZE in bytes: the step's own file size limit, else twice the larger of the
    run directory and /tmp (so a full disk, ENOSPC, comes first)."""
    return limits.file_bytes or 2 * max(limits.workdir_bytes, limits.tmp_bytes)


def pids_max(limits: Limits) -> int:
    """The step's process count limit: the program's ``pids`` plus the sandbox's init."""
    return limits.pids + 1


def cpu_limited(signal_number: int | None, cpu_time_ms: float, limits: Limits) -> bool:
    """Whether a step that died of ``signal_number`` after ``cpu_time_ms`` hit its CPU limit."""
    return (
        signal_number in (signal.SIGKILL, signal.SIGXCPU)
        and cpu_time_ms >= limits.cpu_time_s * 1000 * CPU_LIMIT_SLACK
    )
