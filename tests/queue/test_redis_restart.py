"""Redis restarted (append-only persistence on) while runs are queued and running: every
accepted run still reaches one final status, counted once; requests during the outage
get 503 with Retry-After, quickly."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import redis

from tests.queue.conftest import Cluster, wait_final
from tests.service.conftest import free_port

CODE = "import time\nprint('a', flush=True)\ntime.sleep(1)\nprint('b')"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _redis(port: int, directory: Path, persist: bool = True) -> subprocess.Popen[bytes]:
    aof = ["yes", "--appendfsync", "always"] if persist else ["no"]
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    server = subprocess.Popen(
        [*argv, "--appendonly", *aof, "--dir", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    deadline = time.monotonic() + 15
    while True:
        try:
            if client.ping():
                return server
        except redis.RedisError:
            assert time.monotonic() < deadline, "redis-server did not start"
            time.sleep(0.1)


def test_every_accepted_run_is_final_after_a_redis_restart(
    cluster: Cluster, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis(port, tmp_path)
    try:
        cluster.worker(concurrency=1, EXECBOX_REDIS_URL=url)
        api = cluster.api(EXECBOX_REDIS_URL=url)
        key = cluster.user_key("ray")
        client = api.http()
        run_ids = []
        for _ in range(4):  # one runs, three wait in the queue
            response = client.post(
                "/api/runs", json={"language": "python", "code": CODE}, headers=_auth(key)
            )
            assert response.status_code == 202, response.text
            run_ids.append(response.json()["runId"])

        redis.Redis(port=port).shutdown(nosave=False)  # a clean stop: the AOF holds all
        server.wait(timeout=30)
        started = time.monotonic()
        refused = client.post(
            "/api/runs", json={"language": "python", "code": "print(1)"}, headers=_auth(key)
        )
        assert time.monotonic() - started < 10
        assert refused.status_code == 503 and int(refused.headers["Retry-After"]) > 0
        time.sleep(2)
        server = _redis(port, tmp_path)

        for run_id in run_ids:
            final = wait_final(client, run_id, key, timeout=120)
            assert final["status"] == "ok", final
            assert final["output"]["stdout"] == "a\nb\n", final  # type: ignore[index]
        usage = client.get("/api/usage", headers=_auth(key)).json()
        assert usage["runsToday"] == 4  # the refused request was not a run
        listed = client.get("/api/runs", headers=_auth(key)).json()
        assert sorted(r["runId"] for r in listed) == sorted(run_ids)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)


def test_runs_a_redis_crash_lost_are_queued_again_from_the_run_log(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Worse than the contract's restart: Redis dies with no persistence and comes back
    empty.  The run log still has the accepted runs, and a worker queues them again."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    server = _redis(port, tmp_path, persist=False)
    try:
        api = cluster.api(EXECBOX_REDIS_URL=url)
        key = cluster.user_key("sam")
        client = api.http()
        run_ids = []
        for _ in range(3):  # no worker yet: all three wait in the queue
            response = client.post(
                "/api/runs", json={"language": "python", "code": CODE}, headers=_auth(key)
            )
            assert response.status_code == 202, response.text
            run_ids.append(response.json()["runId"])
        server.kill()
        server.wait(timeout=10)
        server = _redis(port, tmp_path, persist=False)
        assert redis.Redis(port=port).dbsize() == 0  # the queue is gone
        cluster.worker(concurrency=1, EXECBOX_REDIS_URL=url)
        for run_id in run_ids:
            final = wait_final(client, run_id, key, timeout=120)
            assert final["status"] == "ok", final
            assert final["output"]["stdout"] == "a\nb\n", final  # type: ignore[index]
        assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 3
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
