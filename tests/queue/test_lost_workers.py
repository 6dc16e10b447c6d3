"""Workers killed with SIGKILL mid-run: the run goes to another worker once, a run lost
twice ends ``internal_error`` saying so and is not charged, the killed worker's sandboxes
die with it, and a worker started again on the host removes what was left."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx

from execbox.sandbox.native.cgroups import CgroupTree
from tests.host_processes import HostProcess, processes_of_uids
from tests.queue.conftest import UID_BASE, Cluster, Proc, wait_final

SLOW = "import time\nprint('started', flush=True)\ntime.sleep(20)\nprint('finished')"
MARK = "print('started', flush=True)"
BUILDERS = ("execbox-sandbox", "bwrap")  # process names: the first 15 bytes


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _sandbox_pids(*, runs_only: bool = False) -> list[HostProcess]:
    """Host processes running as one of this test session's sandbox uids; ``runs_only``:
    but the builder's, so not those of a sandbox started ahead of time and waiting (it is
    the builder alone until a run takes it: then the init and the program run)."""
    found = processes_of_uids(range(UID_BASE, UID_BASE + 64))
    return [p for p in found if not (runs_only and p.name in BUILDERS)]


def _owned_by(pid: int, cluster: Cluster) -> list[Path]:
    """Run directories and cgroups named after the process ``pid``."""
    tag = f"{pid}."
    runs = cluster.data_dir / "runs"
    found = [p for p in runs.iterdir() if p.name.startswith(tag)] if runs.is_dir() else []
    memory = CgroupTree.detect("execbox").roots["memory"]
    if memory.is_dir():
        found += [p for p in memory.iterdir() if p.is_dir() and p.name.startswith(tag)]
    return found


def _wait_running(client: httpx.Client, run_id: str, key: str) -> None:
    """Until the run is ``running`` with its program started (a sandbox process of ours)."""
    deadline = time.monotonic() + 90
    while True:
        body = client.get(f"/api/runs/{run_id}", headers=_auth(key)).json()
        if body["status"] == "running" and _sandbox_pids(runs_only=True):
            return
        assert body["status"] in ("queued", "running"), body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def _kill(worker: Proc) -> None:
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(timeout=30)


def test_a_run_whose_worker_dies_runs_again_on_another_and_is_counted_once(
    cluster: Cluster,
) -> None:
    first = cluster.worker(concurrency=1)
    api = cluster.api()
    key = cluster.user_key("kim")
    client = api.http()
    code = "import time\nprint('started', flush=True)\ntime.sleep(4)\nprint('finished')"
    run_id = str(
        client.post(
            "/api/runs", json={"language": "python", "code": code}, headers=_auth(key)
        ).json()["runId"]
    )
    _wait_running(client, run_id, key)
    assert _sandbox_pids(runs_only=True), "the program runs in a sandbox of ours"
    killed_at = time.monotonic()
    _kill(first)

    # its sandboxes die with it
    deadline = time.monotonic() + 10
    while _sandbox_pids():
        assert time.monotonic() < deadline, (
            f"sandbox processes outlived their worker: {_sandbox_pids()}"
        )
        time.sleep(0.1)
    assert _owned_by(first.pid, cluster), "the killed worker left its run directory behind"

    cluster.worker(concurrency=1)  # a worker started again on this host
    final = wait_final(client, run_id, key, timeout=90)
    assert final["status"] == "ok", final
    assert final["output"]["stdout"] == "started\nfinished\n"  # type: ignore[index]
    assert time.monotonic() - killed_at < 30 + 4 + 60  # 30 s + the run's time + start-up
    assert not _owned_by(first.pid, cluster), "the restarted worker removed the leftovers"
    assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 1


def test_a_run_lost_twice_ends_internal_error_uncharged_and_never_runs_a_third_time(
    cluster: Cluster,
) -> None:
    api = cluster.api()
    key = cluster.user_key("lee")
    client = api.http()
    run_id = str(
        client.post(
            "/api/runs", json={"language": "python", "code": SLOW}, headers=_auth(key)
        ).json()["runId"]
    )
    assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 1
    for _attempt in (1, 2):
        worker = cluster.worker(concurrency=1)
        _wait_running(client, run_id, key)
        _kill(worker)
        deadline = time.monotonic() + 10
        while _sandbox_pids():
            assert time.monotonic() < deadline
            time.sleep(0.1)
    last = cluster.worker(concurrency=1)
    final = wait_final(client, run_id, key, timeout=90)
    assert final["status"] == "internal_error", final
    assert "lost twice" in str(final["message"]) and "not charged" in str(final["message"])
    assert final["output"] is not None and final["output"]["stdout"] == ""  # type: ignore[index]
    assert not _sandbox_pids(runs_only=True), "a third attempt started"
    assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 0
    # the worker that ended it is healthy and runs the next one
    ok = client.post(
        "/api/editor/run", json={"language": "python", "code": MARK}, headers=_auth(key)
    ).json()
    assert ok["status"] == "ok" and ok["output"]["stdout"] == "started\n", ok
    assert last.popen.poll() is None
