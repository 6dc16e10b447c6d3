"""Soak: many runs mixing attacks and hello worlds, then a report of what was left behind.

Not a unit test.  Usage: .venv/bin/python bench/soak.py [RUNS] [CONCURRENCY]
Prints counts of leftover processes (of the sandbox uid range), cgroups, mounts
and run directories (all should be zero) and this process's memory before and
after.  Exits 1 if anything was left behind or a hello world failed.
"""

from __future__ import annotations

import itertools
import os
import resource
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from execbox.engine import Engine
from execbox.languages import load_registry
from execbox.limits import LimitOverrides, resolve_limits
from execbox.sandbox.factory import create_backend
from execbox.settings import Settings

WORKLOAD = [
    ("hello", "python", "print('OK')\n"),
    ("hello", "bash", "echo OK\n"),
    ("hello", "javascript", "console.log('OK')\n"),
    ("fork bomb", "bash", ":(){ :|:& };:\n"),
    ("memory bomb", "python", "b = []\nwhile True: b.append(bytearray(1 << 20))\n"),
    ("output flood", "bash", "yes\n"),
    (
        "daemon",
        "python",
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(99)\n",
    ),
    ("fill tmp", "bash", "dd if=/dev/zero of=/tmp/x bs=1M count=100 2>/dev/null; echo OK\n"),
    ("symlinks", "bash", "ln -sf /etc/passwd /box/main.sh; mkfifo /box/f; echo OK\n"),
    ("busy loop", "python", "while True: pass\n"),
]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def leftovers(settings: Settings) -> dict[str, int]:
    base, count = settings.sandbox_uid_base, settings.sandbox_uid_count
    processes = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                uid = int((entry / "status").read_text().split("Uid:")[1].split()[0])
            except (OSError, IndexError):
                continue
            processes += base <= uid < base + count
    prefix = f"{os.getpid()}_"
    cgroups = sum(
        1
        for root in Path("/sys/fs/cgroup").glob("*/execbox")
        for p in root.iterdir()
        if p.name.startswith(prefix)
    )
    with open("/proc/self/mountinfo") as handle:
        mounts = sum(str(settings.data_dir) in line for line in handle)
    runs = settings.runs_dir
    files = len(list(runs.iterdir())) if runs.exists() else 0
    return {"processes": processes, "cgroups": cgroups, "mounts": mounts, "run dirs": files}


def main(total: int, concurrency: int) -> int:
    data_dir = Path(tempfile.mkdtemp(prefix="execbox-soak-", dir="/var/tmp"))
    # A uid range of our own, so other execbox processes' sandboxes are not counted.
    settings = Settings(data_dir=data_dir, sandbox_uid_base=3_000_000 + (os.getpid() % 1000) * 256)
    registry = load_registry()
    engine = Engine(settings, registry, create_backend(settings))
    quick = LimitOverrides(time_limit_s=2)
    rss_before = rss_mb()
    statuses: Counter[tuple[str, str]] = Counter()
    failed_hellos = 0

    def one(item: tuple[str, str, str]) -> None:
        nonlocal failed_hellos
        kind, lang_id, code = item
        language = registry.get(lang_id)
        limits = resolve_limits(settings, language=language.limits, request=quick)
        result = engine.run(language, code, limits=limits)
        statuses[(kind, result.status.value)] += 1
        if kind == "hello" and (result.status != "ok" or result.stdout != "OK\n"):
            failed_hellos += 1

    started = time.monotonic()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, itertools.islice(itertools.cycle(WORKLOAD), total)))
    elapsed = time.monotonic() - started
    time.sleep(1)
    left = leftovers(settings)
    print(f"{total} runs in {elapsed:.0f} s at concurrency {concurrency}")
    for (kind, status), n in sorted(statuses.items()):
        print(f"  {kind:<13} {status:<15} {n}")
    print("left behind: " + ", ".join(f"{k} {v}" for k, v in left.items()))
    print(
        f"memory: {rss_before:.1f} MB before, {rss_mb():.1f} MB after "
        f"(peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB)"
    )
    print(f"hello worlds failed: {failed_hellos}")
    return 1 if failed_hellos or any(left.values()) else 0


if __name__ == "__main__":
    sys.exit(
        main(
            int(sys.argv[1]) if len(sys.argv) > 1 else 2000,
            int(sys.argv[2]) if len(sys.argv) > 2 else 2,
        )
    )
