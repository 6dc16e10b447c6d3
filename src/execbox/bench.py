"""The benchmark: the engine against bare processes, interleaved in one run.

For a Python and a Node.js hello world it times N runs through the engine
(in-process, the real sandbox) and N runs of the same program as a bare
process, alternating so both see the same machine; then throughput at a given
concurrency.  It prints medians, p90 and ratios; it asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from execbox.engine import Engine
from execbox.languages import Language, load_registry
from execbox.languages.registry import HOST_PATH
from execbox.limits import Limits, resolve_limits
from execbox.sandbox.factory import create_backend
from execbox.settings import Settings

PROGRAMS = {"python": "print('Hello')\n", "javascript": "console.log('Hello');\n"}


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _bare_runner(language: Language, code: str, directory: Path) -> Callable[[], None]:
    (directory / language.source_file).write_text(code)
    import shutil

    argv = list(language.run)
    argv[0] = shutil.which(argv[0], path=HOST_PATH) or argv[0]

    # The sandbox's environment, not the host's: the host's may make a program do more
    # (NODE_EXTRA_CA_CERTS here costs Node.js some 40 ms) and flatter the sandbox.
    env = {"PATH": HOST_PATH, "HOME": str(directory), "LANG": "C.UTF-8"}

    def run() -> None:
        subprocess.run(argv, cwd=directory, env=env, stdout=subprocess.DEVNULL, check=True)

    return run


def main(
    settings: Settings, *, runs: int, concurrency: int, echo: Callable[[str], None] = print
) -> dict[str, dict[str, float]]:
    registry = load_registry()
    engine = Engine(settings, registry, create_backend(settings))
    figures: dict[str, dict[str, float]] = {}
    echo(f"backend={settings.backend} runs={runs} concurrency={concurrency}")
    with tempfile.TemporaryDirectory() as tmp:
        for lang_id, code in PROGRAMS.items():
            language = registry.get(lang_id)
            if not language.host_available():
                echo(f"{lang_id}: not installed, skipped")
                continue
            limits = resolve_limits(settings, language=language.limits)
            bare = _bare_runner(language, code, Path(tmp))

            def sandboxed(
                language: Language = language, code: str = code, limits: Limits = limits
            ) -> None:
                result = engine.run(language, code, limits=limits)
                if result.status != "ok":
                    raise RuntimeError(f"benchmark run failed: {result.status} {result.message}")

            sandboxed()  # warm-up: builds init, /etc, caches
            bare()
            times: dict[str, list[float]] = {"bare": [], "execbox": []}
            for _ in range(runs):
                for name, fn in (("bare", bare), ("execbox", sandboxed)):
                    start = time.perf_counter()
                    fn()
                    times[name].append((time.perf_counter() - start) * 1000)
            b, e = statistics.median(times["bare"]), statistics.median(times["execbox"])
            throughput = {}
            for name, fn in (("bare", bare), ("execbox", sandboxed)):
                total = runs * 2
                start = time.perf_counter()
                with ThreadPoolExecutor(concurrency) as pool:
                    list(pool.map(lambda _, fn=fn: fn(), range(total)))
                throughput[name] = total / (time.perf_counter() - start)
            figures[lang_id] = {
                "bare_median_ms": b,
                "bare_p90_ms": _p90(times["bare"]),
                "execbox_median_ms": e,
                "execbox_p90_ms": _p90(times["execbox"]),
                "ratio": e / b,
                "bare_runs_per_s": throughput["bare"],
                "execbox_runs_per_s": throughput["execbox"],
                "throughput_share": throughput["execbox"] / throughput["bare"],
            }
            f = figures[lang_id]
            echo(
                f"{lang_id:<11} bare median {b:6.1f} ms p90 {f['bare_p90_ms']:6.1f} | "
                f"execbox median {e:6.1f} ms p90 {f['execbox_p90_ms']:6.1f} | "
                f"ratio {f['ratio']:.2f}"
            )
            echo(
                f"{'':<11} throughput x{concurrency}: bare {throughput['bare']:.1f}/s, "
                f"execbox {throughput['execbox']:.1f}/s = {f['throughput_share']:.0%} of bare"
            )
    return figures
