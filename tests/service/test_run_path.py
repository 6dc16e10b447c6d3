"""The run path's two ways through the embedded pool: a request that finds a worker idle
has it from admission to stored result; one that finds every worker busy is admitted,
waits in the queue, or is refused 503 when the queue is full.  Either way the contract's
outcome is the same."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from execbox.dispatch.local import LocalDispatcher
from tests.service.conftest import EchoBackend, Server, StartServer, auth, create_user
from tests.service.test_api import assert_error, hello

RUN = "/api/editor/run"


def in_flight(server: Server) -> float:
    for line in server.client.get("/metrics").text.splitlines():
        if line.startswith("execbox_runs_in_flight "):
            return float(line.split()[1])
    raise AssertionError("no execbox_runs_in_flight in /metrics")


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never: {what}")
        time.sleep(0.05)


def post_in_background(
    pool: ThreadPoolExecutor, server: Server, key: str, stdin: str
) -> Future[Any]:
    def post() -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=120, headers=auth(key)) as client:
            return client.post(RUN, json=hello(stdin=stdin))

    return pool.submit(post)


def test_the_idle_worker_the_queue_and_a_full_queue(start_server: StartServer) -> None:
    """One worker, a queue of one: the first run takes the worker, the second waits in the
    queue, the third is refused 503 and costs nothing; both runs finish with their own
    output and are in the history."""
    server = start_server(backend=EchoBackend(delay_s=1.5), workers=1, queue_limit=1)
    key = create_user(server, "queued")
    with ThreadPoolExecutor(max_workers=2) as pool:
        first = post_in_background(pool, server, key, "first")
        wait_for(lambda: in_flight(server) == 1, "the first run on the worker")
        second = post_in_background(pool, server, key, "second")
        wait_for(lambda: in_flight(server) == 2, "the second run queued")
        third = server.client.post(RUN, json=hello(stdin="third"), headers=auth(key))
        assert_error(third, 503, "no_capacity")
        answers = [first.result(), second.result()]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json()["output"]["stdout"] for a in answers] == ["first", "second"]
    listed = server.client.get("/api/runs", headers=auth(key)).json()
    assert {r["runId"] for r in listed} == {a.json()["runId"] for a in answers}
    assert all(r["status"] == "ok" for r in listed)
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 2
    assert in_flight(server) == 0


def test_a_refused_request_gives_the_worker_back(start_server: StartServer) -> None:
    """A request refused at admission (here 422, then 413) leaves the one worker free: the
    next run takes it at once, and only that run counts."""
    server = start_server(backend=EchoBackend(), workers=1, queue_limit=0)
    assert_error(server.client.post(RUN, json=hello(language="klingon")), 422, "unknown_language")
    assert_error(server.client.post(RUN, json=hello(code="x" * 200_000)), 413, "code_too_large")
    assert in_flight(server) == 0
    answer = server.client.post(RUN, json=hello(stdin="after"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["output"]["stdout"] == "after"
    assert answer.json()["usage"]["runsToday"] == 1


def test_a_client_that_hangs_up_still_has_its_run_stored(start_server: StartServer) -> None:
    """The run goes on and is stored after its client gave up waiting."""
    server = start_server(backend=EchoBackend(delay_s=1.5), workers=1, queue_limit=0)
    key = create_user(server, "leaver")
    client = httpx.Client(base_url=server.url, timeout=0.5, headers=auth(key))
    with client, pytest.raises(httpx.ReadTimeout):
        client.post(RUN, json=hello(stdin="left"))
    mine = server.client.get("/api/runs", headers=auth(key))
    wait_for(
        lambda: (
            [r["status"] for r in server.client.get("/api/runs", headers=auth(key)).json()]
            == ["ok"]
        ),
        "the abandoned run stored",
    )
    (run,) = server.client.get("/api/runs", headers=auth(key)).json()
    detail = server.client.get(f"/api/runs/{run['runId']}", headers=auth(key)).json()
    assert detail["output"]["stdout"] == "left"
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 1
    assert mine.status_code == 200


def test_the_pool_reserves_only_idle_workers_and_frees_them() -> None:
    """``reserve`` takes a worker only when one is idle (a queued slot is not one), and the
    worker is free again once the reserved work returns; a closed pool reserves none."""
    pool = LocalDispatcher(None, workers=1, queue_limit=1)  # type: ignore[arg-type]
    release = threading.Event()
    try:
        assert pool.reserve()
        assert not pool.reserve()  # the queue has room, but no worker is idle
        assert pool.has_capacity() and pool.in_flight() == 1
        done = pool.run_reserved(lambda _execute: release.wait(60))
        assert not pool.reserve()
        release.set()
        assert done.result(timeout=60) is True
        wait_for(lambda: pool.in_flight() == 0, "the worker freed")
        assert pool.reserve()
        assert pool.run_reserved(lambda _execute: "ran").result(timeout=60) == "ran"
    finally:
        release.set()
        pool.close()
    assert not pool.reserve()
