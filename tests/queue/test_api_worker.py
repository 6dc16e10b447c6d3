"""One `execbox api` node and `execbox worker` processes: synchronous and asynchronous runs
go through Redis to a worker's real sandbox and are stored once in PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.host_processes import process_uid
from tests.queue.conftest import NOBODY, Cluster, wait_final

RUN = "/api/editor/run"


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_api_node_loads_no_sandbox_code() -> None:
    """`execbox api` (its entry point and its app) imports no sandbox, engine or worker."""
    probe = (
        "import sys\n"
        "sys.argv = ['execbox', 'api', '--help']\n"
        "from execbox.launcher import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "from execbox.settings import Settings\n"
        "from execbox.service.api_app import create_api_app\n"
        "create_api_app(Settings(redis_url='redis://127.0.0.1:1/0', data_dir='/nonexistent'))\n"
        "print('API-APP-BUILT')\n"
        "bad = ('execbox.sandbox', 'execbox.engine', 'execbox.selftest', 'execbox.worker',\n"
        "       'execbox.dispatch.local', 'execbox.verdict', 'execbox.cli', 'docker', 'seccomp')\n"
        "print('LOADED:', sorted(m for m in sys.modules if m.startswith(bad)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert "Usage: execbox api" in out  # the entry point really parsed the api command
    assert "API-APP-BUILT" in out
    assert "LOADED: []" in out, out


def test_sync_and_async_runs_on_an_unprivileged_api_node(cluster: Cluster) -> None:
    worker = cluster.worker(concurrency=2)
    api = cluster.api(user=NOBODY)
    assert process_uid(api.pid) == NOBODY
    key = cluster.user_key("ada")
    client = api.http()

    # synchronous: answers when the run is final
    response = client.post(
        RUN,
        json={"language": "python", "code": "import os\nprint('hi', os.getuid() != 0)"},
        headers=_auth(key),
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok", body
    assert body["output"]["stdout"] == "hi True\n"
    assert body["usage"]["runsToday"] == 1

    # asynchronous: 202 at once, queued -> running -> final, result fields null until then
    code = "import time\nprint('before', flush=True)\ntime.sleep(1.5)\nprint('after')"
    response = client.post(
        RUN.replace("editor/run", "runs"),
        json={"language": "python", "code": code},
        headers=_auth(key),
    )
    queued = response.json()
    assert response.status_code == 202, queued
    assert queued["status"] == "queued" and queued["usage"]["runsToday"] == 2
    seen = set()
    deadline = time.monotonic() + 60
    while True:
        detail = client.get(f"/api/runs/{queued['runId']}", headers=_auth(key)).json()
        seen.add(detail["status"])
        if detail["status"] not in ("queued", "running"):
            break
        assert detail["output"] is None and detail["durationMs"] is None, detail
        assert time.monotonic() < deadline, detail
        time.sleep(0.05)
    assert "running" in seen
    assert 0 <= detail["queueWaitMs"] < 30_000, detail
    assert detail["status"] == "ok", detail
    assert detail["output"]["stdout"] == "before\nafter\n"

    # a multi-file program, asynchronously
    files = [
        {"name": "main.py", "content": "from lib.util import twice\nprint(twice(21))"},
        {"name": "lib/util.py", "content": "def twice(n):\n    return 2 * n\n"},
    ]
    response = client.post(
        "/api/runs", json={"language": "python", "files": files}, headers=_auth(key)
    )
    assert response.status_code == 202, response.text
    final = wait_final(client, response.json()["runId"], key)
    assert final["status"] == "ok" and final["output"]["stdout"] == "42\n", final  # type: ignore[index]

    usage = client.get("/api/usage", headers=_auth(key)).json()
    assert usage["runsToday"] == 3
    assert worker.popen.poll() is None


def test_refusals_are_the_same_on_an_api_node(cluster: Cluster) -> None:
    api = cluster.api()
    key = cluster.user_key("bob")
    client = api.http()
    bad = client.post("/api/runs", json={"language": "cobol-9000", "code": "x"}, headers=_auth(key))
    assert bad.status_code == 422 and bad.json()["error"]["code"], bad.text
    big = client.post(
        "/api/runs", json={"language": "python", "code": "#" * 2_000_000}, headers=_auth(key)
    )
    assert big.status_code == 413, big.text
    broken = client.post("/api/runs", content=b"{nope", headers=_auth(key))
    assert broken.status_code == 400, broken.text
    assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 0


def test_readyz_and_metrics_follow_the_workers(cluster: Cluster) -> None:
    api = cluster.api()
    client = api.http()
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert "no worker" in not_ready.json()["error"]["message"]
    assert not_ready.headers.get("Retry-After")

    # a run accepted with no worker waits in the queue
    key = cluster.user_key("cy")
    queued = client.post(
        "/api/runs", json={"language": "python", "code": "print(7)"}, headers=_auth(key)
    ).json()
    deadline = time.monotonic() + 10
    while "execbox_queue_depth 1.0" not in client.get("/metrics").text:
        assert time.monotonic() < deadline, client.get("/metrics").text
        time.sleep(0.2)

    worker = cluster.worker(concurrency=1)
    assert wait_final(client, str(queued["runId"]), key)["status"] == "ok"
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 200:
        assert time.monotonic() < deadline, client.get("/readyz").text
        time.sleep(0.2)
    metrics = client.get("/metrics").text
    assert "execbox_workers 1.0" in metrics
    assert "execbox_queue_depth 0.0" in metrics

    worker.signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    deadline = time.monotonic() + 15
    while client.get("/readyz").status_code != 503:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert "execbox_workers 0.0" in client.get("/metrics").text


def test_sigterm_finishes_the_runs_a_worker_holds_and_takes_no_new_one(cluster: Cluster) -> None:
    worker = cluster.worker(concurrency=1)
    api = cluster.api()
    key = cluster.user_key("dee")
    client = api.http()
    code = "import time\nprint('start', flush=True)\ntime.sleep(3)\nprint('end')"
    held = client.post(
        "/api/runs", json={"language": "python", "code": code}, headers=_auth(key)
    ).json()
    deadline = time.monotonic() + 30
    while client.get(f"/api/runs/{held['runId']}", headers=_auth(key)).json()["status"] != (
        "running"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    worker.signal(signal.SIGTERM)
    later = client.post(
        "/api/runs", json={"language": "python", "code": "print('later')"}, headers=_auth(key)
    ).json()
    assert worker.wait(timeout=60) == 0, worker.output()
    first = client.get(f"/api/runs/{held['runId']}", headers=_auth(key)).json()
    assert first["status"] == "ok" and first["output"]["stdout"] == "start\nend\n", first
    # the stopping worker took nothing new: the later run waits for another worker
    assert client.get(f"/api/runs/{later['runId']}", headers=_auth(key)).json()["status"] == (
        "queued"
    )
    cluster.worker(concurrency=1)
    final = wait_final(client, str(later["runId"]), key)
    assert final["status"] == "ok" and final["output"]["stdout"] == "later\n", final  # type: ignore[index]


def test_redis_unreachable_is_a_503_with_retry_after_and_no_run(
    cluster: Cluster, tmp_path: Path
) -> None:
    from tests.service.conftest import free_port

    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            try:
                if redis.Redis.from_url(url).ping():
                    break
            except redis.RedisError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        api = cluster.api(EXECBOX_REDIS_URL=url)
        key = cluster.user_key("eve")
        server.kill()
        server.wait(timeout=10)
        client = api.http()
        for path in ("/api/runs", RUN):
            started = time.monotonic()
            response = client.post(
                path, json={"language": "python", "code": "print(1)"}, headers=_auth(key)
            )
            assert time.monotonic() - started < 10
            assert response.status_code == 503, response.text
            assert int(response.headers["Retry-After"]) > 0
            assert "Redis" in response.json()["error"]["message"]
        assert client.get("/api/usage", headers=_auth(key)).json()["runsToday"] == 0
        assert client.get("/api/runs", headers=_auth(key)).json() == []
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=10)
    _ = httpx


def test_an_api_node_closes_the_streaming_socket_with_a_reason_and_runs_over_http(
    cluster: Cluster,
) -> None:
    """No streaming where runs go to workers: the socket closes (1013, saying so) before any
    frame, which is the editor's cue to run over HTTP; the same run over HTTP works."""
    cluster.worker(concurrency=1)
    api = cluster.api()
    key = cluster.user_key("grace")
    ws_url = api.url.replace("http://", "ws://", 1) + "/api/ws/run"  # type: ignore[union-attr]
    # The close may come before the run message is even sent.
    with connect(ws_url, open_timeout=30) as socket, pytest.raises(ConnectionClosed) as closed:
        socket.send(json.dumps({"type": "run", "language": "python", "code": "print(1)"}))
        socket.recv(timeout=30)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
    assert "POST /api/editor/run" in closed.value.rcvd.reason
    response = api.http().post(
        RUN, json={"language": "python", "code": "print('over http')"}, headers=_auth(key)
    )
    assert response.status_code == 200, response.text
    assert response.json()["output"]["stdout"] == "over http\n"
    assert api.http().get("/api/usage", headers=_auth(key)).json()["runsToday"] == 1
