"""The seccomp policy as data: its argument rules leave no value undecided, and both
backends' filters are built from exactly these rules (tests/security/test_seccomp.py
runs the attacks through them)."""

from __future__ import annotations

import errno
import json
import random

import pyseccomp
import pytest

from execbox.sandbox import policy
from execbox.sandbox.docker.profile import seccomp_profile
from execbox.sandbox.policy import ArgCheck, SyscallRule, seccomp_rules

M64 = (1 << 64) - 1
CONDITIONAL = sorted({rule.name for rule in seccomp_rules() if rule.args})
RULES = {name: [r for r in seccomp_rules() if r.name == name] for name in CONDITIONAL}


def _holds(check: ArgCheck, args: tuple[int, ...]) -> bool:
    value = args[check.index]
    if check.op == "masked_eq":
        return value & check.mask == check.value
    return {"eq": value == check.value, "lt": value < check.value, "gt": value > check.value}[
        check.op
    ]


def _outcomes(name: str, args: tuple[int, ...]) -> set[int | None]:
    return {rule.errno for rule in RULES[name] if all(_holds(c, args) for c in rule.args)}


def _samples() -> list[tuple[int, int]]:
    edges = [0, 1, 2, 3, 5, 8, 9, 10, 11, 15, 16, 17, 46, 1026, 0x20008, 0x20009, 0x80, 1 << 31]
    edges += [1 << 32, (1 << 32) | 2, (1 << 32) | 1026, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF]
    edges += [(1 << 32) | 0xFFFFFFFF, M64, 0x7E020000]
    rnd = random.Random(10)
    randoms = [rnd.getrandbits(rnd.choice((4, 12, 33, 64))) for _ in range(60)]
    values = edges + randoms
    return [(a, b) for a in values for b in values]


@pytest.mark.parametrize("name", CONDITIONAL)
def test_argument_rules_decide_every_value_exactly_once(name: str) -> None:
    """libseccomp lets an unconditional rule override conditional ones, so each call ruled
    on by its arguments must have rules that split all values into disjoint cases."""
    for args in _samples():
        found = _outcomes(name, args)
        assert len(found) == 1, (name, [hex(a) for a in args], found)


@pytest.mark.parametrize(
    ("name", "args", "expected"),
    [
        ("socket", (1, 5), None),
        ("socket", (2, 1 | 0x80000), None),  # SOCK_STREAM | SOCK_CLOEXEC
        ("socket", (10, 2 | 0x800), None),  # SOCK_DGRAM | SOCK_NONBLOCK
        ("socket", (2, 3), errno.EPERM),
        ("socket", (16, 2), errno.EPERM),
        ("socket", ((1 << 32) | 2, 1), errno.EPERM),
        ("socketpair", (1, 1), None),
        ("socketpair", (2, 1), errno.EPERM),
        ("fcntl", (3, 1026), errno.EPERM),
        ("fcntl", (3, (1 << 32) | 1026), errno.EPERM),
        ("fcntl", (3, 1027), None),
        ("fcntl", (3, 4), None),
        ("clone", (0x003D0F00, 0), None),  # what pthread_create passes
        ("clone", (0x01200011, 0), None),  # what fork passes
        ("clone", (0x10000000 | 17, 0), errno.EPERM),
        ("personality", (0x0008, 0), None),
        ("personality", (0x0040000, 0), errno.EPERM),  # ADDR_NO_RANDOMIZE
        ("personality", (1 << 32, 0), errno.EPERM),  # PER_LINUX to the kernel
        ("personality", (0xFFFFFFFF, 0), None),  # the query
        ("personality", (0xFFFFFFFE, 0), errno.EPERM),
        ("personality", (0x7FFFFFFF, 0), errno.EPERM),
        ("personality", (0x20009, 0), errno.EPERM),
        ("personality", (1 << 32 | 0xFFFFFFFF, 0), errno.EPERM),
    ],
)
def test_argument_rules_decide_as_intended(
    name: str, args: tuple[int, int], expected: int | None
) -> None:
    assert _outcomes(name, args) == {expected}


def test_allowed_denied_and_absent_calls_do_not_overlap() -> None:
    absent = {name for names in policy.ABSENT for name in names.split()}
    allowed, denied = set(policy.ALLOWED), set(policy.DENIED)
    assert len(allowed) == len(policy.ALLOWED) and len(denied) == len(policy.DENIED)
    assert allowed & denied == set() and absent & (allowed | denied) == set()
    assert {"socket", "fcntl", "clone", "personality"} & (allowed | denied) == set()


def test_every_name_resolves_in_this_libseccomp() -> None:
    """A name libseccomp cannot resolve is skipped (refused by the default): on this host
    none is, so every allowed call really is allowed."""
    names = {rule.name for rule in seccomp_rules()}
    native = pyseccomp.Arch.NATIVE
    assert sorted(n for n in names if pyseccomp.resolve_syscall(native, n) < 0) == []


def _profile_rules() -> set[SyscallRule]:
    profile = json.loads(seccomp_profile())
    rules = set()
    for entry in profile["syscalls"]:
        code = None if entry["action"] == "SCMP_ACT_ALLOW" else entry["errnoRet"]
        checks = []
        for arg in entry.get("args", []):
            if arg["op"] == "SCMP_CMP_MASKED_EQ":
                checks.append(ArgCheck(arg["index"], "masked_eq", arg["valueTwo"], arg["value"]))
            else:
                op = arg["op"].removeprefix("SCMP_CMP_").lower()
                checks.append(ArgCheck(arg["index"], op, arg["value"]))
        rules |= {SyscallRule(name, code, tuple(checks)) for name in entry["names"]}
    return rules


def test_the_docker_profile_is_the_same_policy() -> None:
    profile = json.loads(seccomp_profile())
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == errno.ENOSYS
    assert profile["architectures"] == ["SCMP_ARCH_X86_64"]
    ours = set(seccomp_rules())
    profile_rules = _profile_rules()
    assert ours <= profile_rules
    # Docker 20.10 ignores defaultErrnoRet: every other call is named with ENOSYS instead.
    named_too = profile_rules - ours
    assert {(r.errno, r.args) for r in named_too} == {(errno.ENOSYS, ())}
    assert {"io_setup", "inotify_init1", "clone3", "cachestat"} <= {r.name for r in named_too}
    assert {r.name for r in named_too} & {r.name for r in ours} == set()
