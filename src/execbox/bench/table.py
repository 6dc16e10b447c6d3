"""The benchmark: bare processes, the engine, the HTTP API and Docker, side by side.

For a Python and a Node.js hello world it runs N rounds in which every mode runs once in
turn (bare, engine, http, docker backend, docker run; see :mod:`execbox.bench.modes`), so
all see the same machine; then throughput at a given concurrency: for each mode, three
rounds of a block of bare runs and a block of its own, in turn first (its share of bare is
the median of the rounds' shares, so a machine whose speed drifts does not skew it).  It
prints p50, p90, ratios and runs per second; it asserts nothing about time (every run's
output is checked).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from execbox import timing
from execbox.bench import modes
from execbox.bench.modes import Mode
from execbox.bench.server import BenchServer
from execbox.engine import Engine
from execbox.errors import ExecboxError
from execbox.languages import Language, LanguageRegistry, load_registry
from execbox.sandbox.factory import create_backend
from execbox.settings import Settings

MODES = ("bare", "engine", "http", "docker", "docker run")
"""Every mode, in the order they run and print; ``bare`` always runs."""
WARM_UP_RUNS = 3
THROUGHPUT_ROUNDS = 3
"""Rounds of a bare block and a mode's block behind each throughput figure."""


@dataclass(frozen=True)
class Figures:
    """One mode's figures for one language."""

    p50_ms: float
    p90_ms: float
    ratio: float
    """p50 over bare's p50."""
    runs_per_s: float
    throughput_share: float
    """runs per second over bare's, measured next to it."""


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def _throughput(mode: Mode, total: int, concurrency: int) -> float:
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        for _ in pool.map(lambda _: mode.run(), range(total)):
            pass
    rate = total / (time.perf_counter() - start)
    mode.settle()
    return rate


def _rates(bare: Mode, mode: Mode, total: int, concurrency: int) -> tuple[float, float]:
    """``mode``'s runs per second and its share of bare's: ``THROUGHPUT_ROUNDS`` rounds of a
    bare block and a ``mode`` block, in turn first, each share taken within its round; the
    medians (a machine whose speed drifts moves both blocks of a round alike)."""
    shares, rates = [], []
    for round_ in range(THROUGHPUT_ROUNDS):
        order = (bare, mode) if round_ % 2 == 0 else (mode, bare)
        measured = {m.name: _throughput(m, total, concurrency) for m in order}
        rates.append(measured[mode.name])
        shares.append(measured[mode.name] / measured[bare.name])
    return statistics.median(rates), statistics.median(shares)


def measure(runners: Sequence[Mode], *, runs: int, concurrency: int) -> dict[str, Figures]:
    """Latency in interleaved rounds, then each mode's throughput beside bare's.  The first
    runner is bare.  After each run a mode's background work (a sandbox torn down, a warm
    one started) is waited for, untimed: no mode's timings carry another's."""
    for mode in runners:  # warm-up: builds inits, roots, caches, connections, warm pools
        for _ in range(WARM_UP_RUNS):
            mode.run()
            mode.settle()
    times: dict[str, list[float]] = {mode.name: [] for mode in runners}
    for _ in range(runs):
        for mode in runners:
            start = time.perf_counter()
            mode.run()
            times[mode.name].append((time.perf_counter() - start) * 1000)
            mode.settle()
    bare = runners[0]
    total = max(runs * 2, concurrency)
    rates = {bare.name: (_throughput(bare, total, concurrency), 1.0)}
    for mode in runners[1:]:
        rates[mode.name] = _rates(bare, mode, total, concurrency)
    base = statistics.median(times[bare.name])
    return {
        name: Figures(
            p50_ms=statistics.median(values),
            p90_ms=_p90(values),
            ratio=statistics.median(values) / base,
            runs_per_s=rates[name][0],
            throughput_share=rates[name][1],
        )
        for name, values in times.items()
    }


@contextmanager
def _runners(
    settings: Settings,
    registry: LanguageRegistry,
    language: Language,
    wanted: Sequence[str],
    directory: Path,
    server: BenchServer | None,
    echo: Callable[[str], None],
) -> Iterator[list[Mode]]:
    runners = [modes.bare(language, directory)]
    if "engine" in wanted:
        engine = Engine(settings, registry, create_backend(settings))
        runners.append(modes.engine(f"engine ({settings.backend})", language, engine, settings))
    if server is not None:
        runners.append(modes.http(language, server.post, server.settle))
    if "docker" in wanted and settings.backend != "docker":
        docker_settings = settings.model_copy(update={"backend": "docker"})
        try:
            backend = create_backend(docker_settings)
            if backend.offers(language):
                engine = Engine(docker_settings, registry, backend)
                runners.append(modes.engine("docker backend", language, engine, docker_settings))
            else:
                echo(f"{language.id}: the Docker backend does not offer it here, skipped")
        except ExecboxError as exc:
            echo(f"{language.id}: no Docker backend ({exc}), skipped")
    if "docker run" in wanted:
        plain = modes.docker_run(language, settings, directory)
        if plain is None:
            echo(f"{language.id}: no docker or no image for `docker run`, skipped")
        else:
            runners.append(plain)
    try:
        yield runners
    finally:
        for mode in runners:
            mode.close()


def main(
    settings: Settings,
    *,
    runs: int,
    concurrency: int,
    echo: Callable[[str], None] = print,
    only: Sequence[str] = MODES,
    languages: Sequence[str] = tuple(modes.PROGRAMS),
    phases: bool = False,
) -> dict[str, dict[str, Figures]]:
    """Run the benchmark and print its table; answers figures by language, then mode.
    With ``phases``, also each sandbox phase's timings of the engine runs."""
    registry = load_registry()
    figures: dict[str, dict[str, Figures]] = {}
    echo(f"backend={settings.backend} runs={runs} concurrency={concurrency}")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp, ExitStack() as stack:
        Path(tmp).chmod(0o755)  # docker run binds a file from it
        server = None
        if "http" in only:
            uids = {"uid_base": settings.sandbox_uid_base, "uid_count": settings.sandbox_uid_count}
            server = stack.enter_context(BenchServer(**uids))
        for lang_id in languages:
            language = registry.get(lang_id)
            if not language.host_available():
                echo(f"{lang_id}: not installed, skipped")
                continue
            collecting: AbstractContextManager[dict[str, list[float]]] = (
                timing.collect() if phases else nullcontext({})
            )
            with (
                _runners(settings, registry, language, only, Path(tmp), server, echo) as runners,
                collecting as timings,
            ):
                figures[lang_id] = measure(runners, runs=runs, concurrency=concurrency)
            _print(lang_id, figures[lang_id], concurrency, echo)
            if phases:
                _print_phases(timings, echo)
    return figures


def _print_phases(timings: dict[str, list[float]], echo: Callable[[str], None]) -> None:
    """Median and p90 of each phase of this process's sandboxes (every engine run)."""
    echo(f"  {'phase (engine runs, this process)':<36} {'count':>6} {'p50 ms':>8} {'p90 ms':>8}")
    for name, values in timings.items():
        echo(f"  {name:<36} {len(values):6d} {statistics.median(values):8.2f} {_p90(values):8.2f}")


def _print(
    lang_id: str, table: dict[str, Figures], concurrency: int, echo: Callable[[str], None]
) -> None:
    echo("")
    echo(
        f"{lang_id:<16} {'p50 ms':>8} {'p90 ms':>8} {'x bare':>7} "
        f"{f'runs/s @{concurrency}':>11} {'of bare':>8}"
    )
    for name, f in table.items():
        echo(
            f"{name:<16} {f.p50_ms:8.1f} {f.p90_ms:8.1f} {f.ratio:7.2f} "
            f"{f.runs_per_s:11.1f} {f.throughput_share:8.0%}"
        )
