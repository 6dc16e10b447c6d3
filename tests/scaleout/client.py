"""What a client of the scaled-out service does: post runs, poll them to a final status, read
its usage; and the check every fault test ends with."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

import httpx

from tests.scaleout.nodes import ApiNode

FINAL = {
    "ok",
    "runtime_error",
    "compile_error",
    "timeout",
    "memory_limit",
    "output_limit",
    "internal_error",
}


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sleeper(token: str, seconds: float) -> dict[str, Any]:
    """A Python program that prints that it started, sleeps, then prints that it finished.
    ``token`` is its argument, so its process is found on the host by its command line."""
    code = (
        "import sys, time\n"
        "print('started', sys.argv[1], flush=True)\n"
        f"time.sleep({seconds})\n"
        "print('finished', sys.argv[1])\n"
    )
    return {"language": "python", "code": code, "args": [token]}


def hello(n: int) -> dict[str, Any]:
    return {"language": "python", "code": f"print('hello', {n} * 7)"}


def post_run(node: ApiNode, body: dict[str, Any], key: str) -> str:
    """``POST /api/runs``: the run id of an accepted (202) run."""
    response = node.client.post("/api/runs", json=body, headers=auth(key))
    assert response.status_code == 202, (response.status_code, response.text)
    answer = response.json()
    assert answer["status"] == "queued", answer
    return str(answer["runId"])


def get_run(node: ApiNode, run_id: str, key: str) -> dict[str, Any]:
    response = node.client.get(f"/api/runs/{run_id}", headers=auth(key))
    assert response.status_code == 200, (response.status_code, response.text)
    answer: dict[str, Any] = response.json()
    return answer


def wait_status(
    node: ApiNode, run_id: str, key: str, statuses: Iterable[str], timeout: float
) -> dict[str, Any]:
    """Poll ``GET /api/runs/{id}`` until its status is one of ``statuses``."""
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            last = get_run(node, run_id, key)
        except (AssertionError, httpx.HTTPError):
            last = {}
        if last.get("status") in wanted:
            return last
        time.sleep(0.2)
    raise AssertionError(f"run {run_id} not {sorted(wanted)} within {timeout:g} s: {last}")


def wait_final(node: ApiNode, run_id: str, key: str, timeout: float = 90) -> dict[str, Any]:
    return wait_status(node, run_id, key, FINAL, timeout)


def usage(node: ApiNode, key: str) -> int:
    response = node.client.get("/api/usage", headers=auth(key))
    assert response.status_code == 200, response.text
    return int(response.json()["runsToday"])


def all_final_and_counted_once(
    nodes: Sequence[ApiNode], key: str, accepted: Sequence[str], timeout: float = 90
) -> dict[str, dict[str, Any]]:
    """Every accepted run reaches one final status, the same read from every node; the
    caller's history lists each exactly once; its usage counts each exactly once (a run
    that ends ``internal_error`` is the service's failure and is given back, once)."""
    runs = {run_id: wait_final(nodes[0], run_id, key, timeout) for run_id in accepted}
    for node in nodes[1:]:
        for run_id, seen in runs.items():
            again = get_run(node, run_id, key)
            assert again["status"] == seen["status"] and again["output"] == seen["output"]
    for node in nodes:
        listed = node.client.get("/api/runs", params={"limit": 500}, headers=auth(key)).json()
        ids = [item["runId"] for item in listed]
        assert sorted(ids) == sorted(accepted), (ids, accepted)
        charged = [run_id for run_id, run in runs.items() if run["status"] != "internal_error"]
        assert usage(node, key) == len(charged), (usage(node, key), runs)
    return runs
