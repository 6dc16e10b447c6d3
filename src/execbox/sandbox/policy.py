"""What every sandbox backend enforces, as data: one policy, two backends.

The native backend compiles the system-call rules into BPF for bubblewrap
(:mod:`execbox.sandbox.native.seccomp`); the Docker backend turns the same rules
into a seccomp profile (:mod:`execbox.sandbox.docker.profile`).  Both hide the same
``/proc`` paths, give the program the same CPU-time rlimits and process count, and
decide "the CPU-time limit ended this step" the same way, so one program gets the
same status on either backend.
"""

from __future__ import annotations

import math
import signal

from execbox.limits import Limits

DENIED = (
    # file systems and namespaces
    "mount",
    "umount2",
    "pivot_root",
    "chroot",
    "move_mount",
    "open_tree",
    "fsopen",
    "fsconfig",
    "fsmount",
    "fspick",
    "mount_setattr",
    "unshare",
    "setns",
    # other processes' memory and descriptors
    "ptrace",
    "process_vm_readv",
    "process_vm_writev",
    "pidfd_getfd",
    "kcmp",
    "process_madvise",
    # kernel attack surface that is not namespaced
    "bpf",
    "perf_event_open",
    "userfaultfd",
    "io_uring_setup",
    "io_uring_enter",
    "io_uring_register",
    "keyctl",
    "add_key",
    "request_key",
    "fanotify_init",
    "open_by_handle_at",
    "name_to_handle_at",
    "lookup_dcookie",
    "quotactl",
    "quotactl_fd",
    # the machine itself
    "kexec_load",
    "kexec_file_load",
    "init_module",
    "finit_module",
    "delete_module",
    "reboot",
    "swapon",
    "swapoff",
    "acct",
    "syslog",
    "settimeofday",
    "clock_settime",
    "clock_adjtime",
    "adjtimex",
    "iopl",
    "ioperm",
    "uselib",
    "vhangup",
    "nfsservctl",
    "sethostname",
    "setdomainname",
)
NAMESPACE_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
    0x00000080,  # CLONE_NEWTIME
)
DENIED_SOCKET_FAMILIES = (
    17,  # AF_PACKET
    38,  # AF_ALG
    40,  # AF_VSOCK
    4,  # AF_IPX
    5,  # AF_APPLETALK
    9,  # AF_X25
    29,  # AF_CAN
    36,  # AF_IEEE802154
)
SOCK_TYPE_MASK = 0xF
SOCK_RAW = 3
SOCK_PACKET = 10
ALLOWED_PERSONALITY_BITS = 0x0008 | 0x20000  # as Docker's default profile allows

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


def pids_max(limits: Limits) -> int:
    """The step's process count limit: the program's ``pids`` plus the sandbox's init."""
    return limits.pids + 1


def cpu_limited(signal_number: int | None, cpu_time_ms: float, limits: Limits) -> bool:
    """Whether a step that died of ``signal_number`` after ``cpu_time_ms`` hit its CPU limit."""
    return (
        signal_number in (signal.SIGKILL, signal.SIGXCPU)
        and cpu_time_ms >= limits.cpu_time_s * 1000 * CPU_LIMIT_SLACK
    )
