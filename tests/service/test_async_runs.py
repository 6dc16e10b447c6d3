"""``POST /api/runs`` on the all-in-one server (``execbox serve``): 202 at once, the run
goes on in the background and ``GET /api/runs/{runId}`` shows it queued, running, final
(fake sandbox: stdout = stdin, each step slowed down so the states can be seen)."""

from __future__ import annotations

import time

from execbox.sandbox.fake import FakeBackend
from tests.service.conftest import EchoBackend, StartServer, auth, create_user


class SlowEcho(EchoBackend):
    def __init__(self) -> None:
        FakeBackend.__init__(self, delay_s=1.0)


def test_an_async_run_answers_202_then_shows_queued_running_and_final(
    start_server: StartServer,
) -> None:
    server = start_server(backend=SlowEcho(), workers=1)
    key = create_user(server, "ann")
    body = {"language": "python", "code": "print(input())", "stdin": "hi\n"}
    started = time.monotonic()
    response = server.client.post("/api/runs", json=body, headers=auth(key))
    assert time.monotonic() - started < 1.0  # answered before the 1 s step ended
    queued = response.json()
    assert response.status_code == 202, queued
    assert set(queued) == {"runId", "status", "usage"}
    assert queued["status"] == "queued"
    assert queued["usage"]["runsToday"] == 1
    # a second run waits behind the first on the single worker
    second = server.client.post("/api/runs", json=body, headers=auth(key)).json()
    early = server.client.get(f"/api/runs/{second['runId']}", headers=auth(key)).json()
    assert early["status"] == "queued", early
    fields = ("output", "durationMs", "cpuTimeMs", "memoryUsed", "message", "truncated")
    for field in (*fields, "queueWaitMs"):
        assert early[field] is None, (field, early)
    assert early["code"] == body["code"] and early["stdin"] == "hi\n"

    deadline = time.monotonic() + 30
    while True:
        final = server.client.get(f"/api/runs/{second['runId']}", headers=auth(key)).json()
        if final["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, final
        time.sleep(0.05)
    assert final["status"] == "ok", final
    assert final["output"]["stdout"] == "hi\n"
    # it waited for the first run's 1 s step on the single worker
    assert 500 <= final["queueWaitMs"] < 30_000, final
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 2


def test_an_async_run_is_refused_like_a_synchronous_one(start_server: StartServer) -> None:
    server = start_server()
    key = create_user(server, "bea")
    response = server.client.post(
        "/api/runs", json={"language": "klingon", "code": "x"}, headers=auth(key)
    )
    assert response.status_code == 422 and response.json()["error"]["code"], response.text
    response = server.client.post("/api/runs", json={"language": "python"}, headers=auth(key))
    assert response.status_code == 422, response.text
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 0
    assert server.client.get("/api/runs", headers=auth(key)).json() == []
