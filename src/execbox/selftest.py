"""The sandbox self-test: a hello world and a few attacks that must fail.

Run at start-up and behind ``/readyz`` and ``execbox doctor``.  A backend that
fails it gets no runs: the service answers 503 rather than run code in a
sandbox that does not hold.  Each probe is a real program through the real
engine; its verdict is a plain predicate on the result.  Every verdict needs
positive evidence printed from inside the sandbox (the attempt's outcome, and
status ``ok`` where the program ends normally), so a backend that runs nothing
fails every probe (``tests/test_null_backend.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from execbox.engine import Engine
from execbox.errors import UnknownLanguage
from execbox.limits import resolve_limits
from execbox.results import RunResult, Status
from execbox.sandbox.base import Check

log = logging.getLogger(__name__)

_UNSHARE = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "print('allowed' if libc.syscall(272, 0x10000000) == 0 else 'refused')\n"
)


@dataclass(frozen=True)
class Probe:
    name: str
    language: str
    code: str
    holds: Callable[[RunResult], bool]


PROBES = (
    Probe(
        "hello world",
        "python",
        "print('OK')\n",
        lambda r: r.status is Status.OK and r.stdout == "OK\n",
    ),
    Probe(
        "host secrets unreadable",
        "bash",
        "echo \"password hashes: $(cat /etc/shadow 2>/dev/null | grep -c ':\\$')\"\n",
        lambda r: r.status is Status.OK and r.stdout == "password hashes: 0\n",
    ),
    Probe(
        "system read-only",
        "bash",
        'touch /usr/execbox-selftest 2>&1; echo "rc=$?"\n',
        lambda r: (
            r.status is Status.OK
            and "Read-only file system" in r.stdout
            and r.stdout.endswith("\nrc=1\n")
        ),
    ),
    Probe(
        "no network",
        "bash",
        "tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '\n"
        "(exec 3<>/dev/tcp/1.1.1.1/53) 2>/dev/null && echo connected || echo unreachable\n",
        lambda r: r.status is Status.OK and r.stdout == "lo\nunreachable\n",
    ),
    Probe(
        "not root",
        "bash",
        "id -u\n",
        lambda r: r.status is Status.OK and r.stdout.strip() not in ("", "0"),
    ),
    Probe(
        "no new namespaces",
        "python",
        _UNSHARE,
        lambda r: r.status is Status.OK and r.stdout.strip() == "refused",
    ),
    Probe(
        "memory limit holds",
        "python",
        "b = []\nwhile True: b.append(bytearray(1 << 20))\n",
        lambda r: r.status is Status.MEMORY_LIMIT,
    ),
)


def run_selftest(engine: Engine) -> list[Check]:
    """Every probe's verdict; the sandbox is usable only if all hold."""
    checks = []
    limits = resolve_limits(engine.settings, request=None)
    for probe in PROBES:
        try:
            language = engine.registry.get(probe.language)
        except UnknownLanguage:
            checks.append(Check(probe.name, False, f"{probe.language} is not available"))
            continue
        result = engine.run(language, probe.code, limits=limits, run_id=None)
        ok = probe.holds(result)
        detail = "holds" if ok else f"{result.status}: {result.message or result.stdout[:80]}"
        if not ok:
            log.error("self-test %r failed: %s", probe.name, detail)
        checks.append(Check(probe.name, ok, detail))
    return checks
