"""``execbox bench`` and ``execbox soak`` run end to end with tiny N (correctness only: every
benchmarked run's output is checked by the bench itself; no timing is asserted)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from execbox.bench import table
from execbox.bench.modes import Mode
from tests.conftest import UID_BASE, UID_COUNT

EXECBOX = str(Path(sys.executable).with_name("execbox"))
ROW = r"\s+\d+\.\d\s+\d+\.\d\s+\d+\.\d\d\s+\d+\.\d\s+\d+%"


def _execbox(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXECBOX, *args], env=env, capture_output=True, text=True, timeout=280)


@pytest.fixture
def env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EXECBOX_DATA_DIR": str(data_dir),
        "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
        "EXECBOX_SANDBOX_UID_COUNT": str(UID_COUNT),
    }


def test_bench_prints_bare_engine_and_http_side_by_side(env: dict[str, str]) -> None:
    done = _execbox(
        env, "bench", "--runs", "2", "--concurrency", "2",
        "--mode", "engine", "--mode", "http", "--language", "python", "--phases",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"python\s+p50 ms\s+p90 ms\s+x bare\s+runs/s @2\s+of bare", done.stdout)
    for phase in ("launcher spawn", "sandbox setup", "program and collection", "cgroup destroy"):
        assert re.search(rf"^  {phase}\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d$", done.stdout, re.M), phase
    for row in ("bare", r"engine \(native\)", "http"):
        assert re.search(rf"^{row}{ROW}$", done.stdout, re.M), done.stdout
    assert re.search(rf"^bare{ROW}$", done.stdout, re.M).group(0).split()[-3] == "1.00"  # type: ignore[union-attr]


@pytest.mark.docker
def test_bench_prints_docker_backend_and_plain_docker_run(env: dict[str, str]) -> None:
    done = _execbox(
        env, "bench", "--runs", "1", "--concurrency", "2",
        "--mode", "docker", "--mode", "docker run", "--language", "python",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    if "skipped" in done.stdout:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Docker unusable in CI: {done.stdout}")
        pytest.skip(f"Docker unusable here: {done.stdout}")
    for row in ("bare", "docker backend", "docker run"):
        assert re.search(rf"^{row}{ROW}$", done.stdout, re.M), done.stdout


def test_bench_refuses_an_unknown_mode(env: dict[str, str]) -> None:
    done = _execbox(env, "bench", "--mode", "warp")
    assert done.returncode == 2
    assert "unknown mode or language: warp" in done.stderr


def test_soak_reports_memory_and_nothing_left_behind(env: dict[str, str]) -> None:
    done = _execbox(env, "soak", "--runs", "8", "--concurrency", "2", "--uid-base", str(UID_BASE))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 runs in" in done.stdout
    assert "hello worlds failed: 0" in done.stdout
    assert re.search(r"service memory: \d+\.\d MB at start, \d+\.\d MB at end", done.stdout)
    zero = "processes 0, cgroups 0, mounts 0, run dirs 0, uids 0"
    assert f"left behind (running): {zero}" in done.stdout
    assert f"left behind (stopped): {zero}" in done.stdout
    # Sandboxes started ahead of time wait while the service runs, and go with it.
    waiting = re.search(r"waiting \(running\): (\d+) ", done.stdout)
    assert waiting and int(waiting.group(1)) <= 2 * 4, done.stdout
    stopped = "waiting (stopped): 0 (processes 0, cgroups 0, mounts 0)"
    assert stopped in done.stdout, done.stdout


def test_a_throughput_share_is_taken_within_rounds_so_a_drifting_machine_does_not_skew_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A fake clock: a bare run costs 1 unit and a mode's run 2, on a machine that gets 4×
    slower in the middle of the second round (its share is then 2.0, not 0.5).  The share
    is the median of the rounds': 50 %.  Bare and the mode take turns going first."""
    clock = [0.0]
    order: list[str] = []
    slow = [1.0]

    def mode(name: str, cost: float) -> Mode:
        def run() -> None:
            order.append(name)
            clock[0] += cost * slow[0]

        def settle() -> None:
            if len(order) >= 3 * 2 + 3 * 2 + 6 + 2 * 6 + 6:  # after round 2's first block
                slow[0] = 4.0

        return Mode(name, run, settle=settle)

    monkeypatch.setattr(table, "time", SimpleNamespace(perf_counter=lambda: clock[0]))
    figures = table.measure([mode("bare", 1.0), mode("engine", 2.0)], runs=3, concurrency=1)
    assert figures["engine"].throughput_share == pytest.approx(0.5)
    assert figures["bare"].throughput_share == 1.0
    assert figures["engine"].ratio == pytest.approx(2.0)
    blocks = [order[i] for i in range(3 * 2 + 3 * 2 + 6, len(order), 6)]  # each block's first
    assert blocks == ["bare", "engine", "engine", "bare", "bare", "engine"]
