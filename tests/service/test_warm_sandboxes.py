"""``execbox serve`` keeps sandboxes started ahead of time (warm, on by default): none of
them outlives the service, whether it is stopped (SIGTERM: drained, then removed) or
killed (SIGKILL: the next start removes what they left, by owner)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx

from execbox.sandbox.leftovers import owner_tag
from tests import scratch
from tests.host_processes import processes_of_uids
from tests.sandbox.test_leftovers import _cgroups_of
from tests.service.conftest import UID_BASE, auth
from tests.service.test_end_to_end import RUN, ServeProcess, cli_user

SERVE_UIDS = range(UID_BASE, UID_BASE + 64)  # ServeProcess's


def _warm_dirs(data_dir: Path, tag: str) -> list[Path]:
    runs = data_dir / "runs"
    if not runs.is_dir():
        return []
    return [p for p in runs.iterdir() if p.name.startswith(f"{tag}_warm-")]


def _serve_with_warm_sandboxes(data_dir: Path, database_url: str) -> tuple[ServeProcess, str]:
    """A service that ran a hello world, once it has sandboxes of that kind waiting."""
    key = cli_user(data_dir, database_url, f"user{time.monotonic_ns()}")
    serve = ServeProcess(data_dir, database_url)
    tag = owner_tag(serve.process.pid)
    hello = httpx.post(
        serve.url + RUN,
        json={"language": "python", "code": "print('hi')"},
        headers=auth(key),
        timeout=60,
    ).json()
    assert hello["status"] == "ok" and hello["output"]["stdout"] == "hi\n", hello
    deadline = time.monotonic() + 60
    while len(_warm_dirs(data_dir, tag)) < 2:
        assert time.monotonic() < deadline, "the service started no sandbox ahead of time"
        time.sleep(0.1)
    time.sleep(0.5)  # their bubblewrap done with its mounts
    # What a warm sandbox holds while it waits: a mounted run dir, a cgroup, processes.
    runs = str(data_dir / "runs")
    assert [m for m in scratch.mounts_under(data_dir / "runs") if f"{tag}_warm-" in m], runs
    assert [c for c in _cgroups_of(tag) if "_warm-" in c]
    assert processes_of_uids(SERVE_UIDS) != []
    return serve, tag


def _nothing_left(data_dir: Path, tag: str) -> None:
    deadline = time.monotonic() + 5
    while processes_of_uids(SERVE_UIDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of_uids(SERVE_UIDS) == []
    assert _warm_dirs(data_dir, tag) == []
    assert [m for m in scratch.mounts_under(data_dir / "runs") if tag in m] == []
    assert _cgroups_of(tag) == []


def test_sigterm_removes_the_sandboxes_started_ahead_of_time(
    data_dir: Path, database_url: str
) -> None:
    serve, tag = _serve_with_warm_sandboxes(data_dir, database_url)
    assert serve.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    _nothing_left(data_dir, tag)


def test_what_a_killed_service_kept_warm_is_removed_at_the_next_start(
    data_dir: Path, database_url: str
) -> None:
    serve, tag = _serve_with_warm_sandboxes(data_dir, database_url)
    serve.stop(signal.SIGKILL)
    # Its sandboxes' processes die with it (bubblewrap's --die-with-parent); their run
    # dirs, mounts and cgroups stay, for lack of a chance to clean up.
    deadline = time.monotonic() + 5
    while processes_of_uids(SERVE_UIDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of_uids(SERVE_UIDS) == []
    assert len(_warm_dirs(data_dir, tag)) >= 2
    assert [m for m in scratch.mounts_under(data_dir / "runs") if f"{tag}_warm-" in m]
    assert [c for c in _cgroups_of(tag) if "_warm-" in c]

    again = ServeProcess(data_dir, database_url)  # ready: its start-up removed them
    again_tag = owner_tag(again.process.pid)
    try:
        assert _warm_dirs(data_dir, tag) == []
        assert [m for m in scratch.mounts_under(data_dir / "runs") if tag in m] == []
        assert _cgroups_of(tag) == []
    finally:
        assert again.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    _nothing_left(data_dir, again_tag)
