"""Per-run cost of a Python hello world: bare process, native backend, Docker backend.

The three are interleaved (bare, native, docker, bare, ...) so each sees the same
machine.  A run's cost is the wall time of the whole ``Engine.run`` call (workspace,
sandbox start, program, cleanup), as a caller sees it.  Prints median and p90; asserts
nothing.  Needs root, a running dockerd and ``execbox images build python``.

    .venv/bin/python bench/docker_bench.py [RUNS]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from execbox.engine import Engine
from execbox.languages import load_registry
from execbox.limits import resolve_limits
from execbox.results import Status
from execbox.sandbox.factory import create_backend
from execbox.settings import Settings

CODE = "print('Hello')\n"


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main(runs: int) -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="execbox-bench-", dir="/var/tmp"))
    data_dir.chmod(0o755)  # the native sandbox user must traverse it
    registry = load_registry()
    python = registry.get("python")
    source = data_dir / "main.py"
    source.write_text(CODE)

    def bare() -> None:
        subprocess.run(
            ["/usr/bin/python3", "-u", str(source)],
            check=True,
            capture_output=True,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        )

    runners: dict[str, Callable[[], None]] = {"bare process": bare}
    for name in ("native", "docker"):
        settings = Settings(data_dir=data_dir / name, backend=name)  # type: ignore[arg-type]
        engine = Engine(settings, registry, create_backend(settings))
        limits = resolve_limits(settings, language=python.limits)

        def run(engine: Engine = engine, limits: object = limits, name: str = name) -> None:
            result = engine.run(python, CODE, limits=limits)  # type: ignore[arg-type]
            if result.status is not Status.OK:
                raise SystemExit(f"{name}: {result.status} {result.message}")

        runners[f"{name} backend"] = run

    for runner in runners.values():  # warm caches, build the inits
        runner()
    times: dict[str, list[float]] = {name: [] for name in runners}
    for _ in range(runs):
        for name, runner in runners.items():
            start = time.perf_counter()
            runner()
            times[name].append((time.perf_counter() - start) * 1000)

    print(f"Python hello world, {runs} runs each, interleaved (ms per run)")
    base = statistics.median(times["bare process"])
    for name, values in times.items():
        median = statistics.median(values)
        print(
            f"  {name:<15} median {median:7.1f}   p90 {_p90(values):7.1f}   "
            f"x{median / base:5.1f} bare"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
