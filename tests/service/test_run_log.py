"""The run log as a user and an operator see it: compact output, the contract's JSON back."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest

from execbox.store import Database
from tests.service.conftest import Clock, StartServer, set_plan
from tests.store.test_runs import MIB, stored_bytes

RUN = "/api/editor/run"
HELLO = {"language": "python", "code": "print('Hello')", "stdin": "Hello\n"}

BINARY = (
    "import sys\n"
    f"sys.stdout.buffer.write(b'\\xff' * {MIB})\n"
    f"sys.stderr.buffer.write(b'\\x01' * {MIB})\n"
)


def test_binary_output_is_stored_as_bytes_and_answered_as_the_contracts_text(
    start_server: StartServer,
) -> None:
    server = start_server(backend="real")
    answer = server.client.post(RUN, json={"language": "python", "code": BINARY})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "ok" and not body["truncated"], body["message"]
    assert body["output"]["stdout"] == "\ufffd" * MIB
    assert body["output"]["stderr"] == "\x01" * MIB

    detail = server.client.get(f"/api/runs/{body['runId']}").json()
    assert detail["output"] == body["output"] and detail["status"] == "ok"
    db = Database(server.settings.effective_database_url)  # type: ignore[attr-defined]
    try:
        size = stored_bytes(db, body["runId"])
    finally:
        db.close()
    assert size < 2 * MIB + 4096, size  # was about 12 MB of JSON escapes


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"never: {what}")
        time.sleep(0.2)


def test_past_the_row_cap_old_runs_go_and_the_quota_still_counts_them(
    start_server: StartServer, clock: Clock
) -> None:
    clock.now -= timedelta(hours=1)  # five runs, a second apart, within one day
    server = start_server(run_log_max_runs=3, run_log_prune_interval_s=1)
    set_plan(server, "guest", daily_runs=5)
    ids = []
    for n in range(5):
        clock.now += timedelta(seconds=1)
        answer = server.client.post(RUN, json={**HELLO, "stdin": f"run {n}\n"})
        assert answer.status_code == 200 and answer.json()["output"]["stdout"] == f"run {n}\n"
        ids.append(answer.json()["runId"])

    wait_for(lambda: len(server.client.get("/api/runs").json()) == 3, "the log holds 3 runs")
    assert [run["runId"] for run in server.client.get("/api/runs").json()] == ids[:1:-1]
    assert server.client.get(f"/api/runs/{ids[0]}").status_code == 404
    assert server.client.get(f"/api/runs/{ids[4]}").json()["output"]["stdout"] == "run 4\n"
    assert server.client.get("/api/usage").json()["runsToday"] == 5  # deleted runs still count
    refused = server.client.post(RUN, json=HELLO)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"


def test_runs_older_than_the_retention_go_and_todays_usage_is_kept(
    start_server: StartServer, clock: Clock
) -> None:
    server = start_server(run_log_retention_days=30, run_log_prune_interval_s=1)
    old = server.client.post(RUN, json=HELLO).json()["runId"]
    clock.now += timedelta(days=29)
    kept = server.client.post(RUN, json=HELLO).json()["runId"]
    time.sleep(2.5)  # a prune pass or two: both runs are within 30 days
    assert [run["runId"] for run in server.client.get("/api/runs").json()] == [kept, old]

    clock.now += timedelta(days=2)  # the first run is 31 days old, the second 2
    new = server.client.post(RUN, json=HELLO)
    assert new.status_code == 200 and new.json()["usage"]["runsToday"] == 1
    wait_for(lambda: server.client.get(f"/api/runs/{old}").status_code == 404, "the old run goes")
    listed = [run["runId"] for run in server.client.get("/api/runs").json()]
    assert listed == [new.json()["runId"], kept]
    assert server.client.get("/api/usage").json()["runsToday"] == 1
