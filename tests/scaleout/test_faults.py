"""Scale-out's guarantees, tested by killing real processes (issue 14; the contract's
"Scale-out"): API nodes and workers as subprocesses, one worker on the test host (its own
network namespace), and real Redis and PostgreSQL restarted under load.

Each test ends with every accepted run in one final status, the same from every node,
listed once in its owner's history and counted once in its usage.  Which sandbox ran an
attempt is seen on the host: a test program's argument is a token of its own, and each
host's sandboxes run as host uids of that host's own range.
"""

from __future__ import annotations

import pwd
import re
import signal
import threading
import time
import uuid
from typing import Any

import httpx
import pytest

from tests.host_processes import process_uid
from tests.scaleout.client import (
    all_final_and_counted_once,
    auth,
    get_run,
    hello,
    post_run,
    sleeper,
    wait_final,
)
from tests.scaleout.nodes import CGROUP_NAME, ApiNode, Deployment, Host, Worker
from tests.scaleout.processes import wait_for
from tests.scaleout.sandboxes import (
    AttemptCounter,
    cgroup_leftovers,
    mount_leftovers,
    rundir_leftovers,
)
from tests.scaleout.services import PostgresCluster, RedisServer

pytestmark = pytest.mark.scaleout

OUTAGE_ANSWER_S = 10.0
"""The contract: during an outage a request answers 503 with Retry-After within 10 s."""
RETRY_BOUND_S = 30.0
"""The contract: a run lost with its worker is final within 30 s plus its own time."""


def token() -> str:
    return f"tok{uuid.uuid4().hex[:12]}"


def uids(host: Host) -> range:
    return range(host.uid_base, host.uid_base + 64)


def host_of(deployment: Deployment, uid: int) -> Host:
    for host in (deployment.local, deployment.remote):
        if uid in uids(host):
            return host
    raise AssertionError(f"uid {uid} is no host's sandbox uid")


def holder(deployment: Deployment, uid: int) -> Worker:
    """The live worker of the host whose sandbox runs as ``uid`` (one live worker a host)."""
    live = [w for w in host_of(deployment, uid).workers if w.process.alive()]
    assert len(live) == 1, [w.name for w in live]
    return live[0]


def wait_attempts(counter: AttemptCounter, count: int, timeout: float = 30) -> dict[str, int]:
    """Until ``count`` attempts were seen, the last of them running; every one seen."""
    wait_for(
        lambda: len(counter.attempts()) >= count and len(counter.running()) == 1,
        timeout,
        f"attempt {count} of {counter.token} running (seen: {counter.attempts()})",
    )
    time.sleep(0.3)  # past its first line: the program is in its sleep
    return counter.attempts()


def readyz(node: ApiNode) -> int:
    try:
        return node.client.get("/readyz").status_code
    except httpx.HTTPError:
        return 0


def refused_for_the_outage(
    node: ApiNode, method: str, path: str, key: str, body: dict[str, Any] | None = None
) -> None:
    """The request answers 503 with Retry-After and an error body, within 10 s."""
    started = time.monotonic()
    response = node.client.request(
        method, path, json=body, headers=auth(key), timeout=OUTAGE_ANSWER_S + 20
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 503, (method, path, response.status_code, response.text)
    assert int(response.headers["Retry-After"]) > 0, response.headers
    assert response.json()["error"]["code"], response.text
    assert elapsed < OUTAGE_ANSWER_S, f"{method} {path} answered after {elapsed:.1f} s"


def finished(run: dict[str, Any], tok: str) -> bool:
    stdout = (run.get("output") or {}).get("stdout")
    return bool(run["status"] == "ok" and stdout == f"started {tok}\nfinished {tok}\n")


def test_two_nodes_and_two_workers_one_on_the_test_host(deployment: Deployment) -> None:
    first = deployment.api(unprivileged=True)
    second = deployment.api()
    key = deployment.users_create("alice")
    deployment.wait_up()
    assert process_uid(first.process.pid) == pwd.getpwnam("nobody").pw_uid
    assert (readyz(first), readyz(second)) == (503, 503)  # no worker yet

    deployment.worker(deployment.remote, concurrency=2)
    deployment.worker(deployment.local, concurrency=2)
    deployment.wait_workers(2)
    assert (readyz(first), readyz(second)) == (200, 200)

    # Eight sleepers for four sandboxes: both hosts' workers take some.
    tokens = [token() for _ in range(8)]
    counters = [AttemptCounter(tok) for tok in tokens]
    accepted = [
        post_run((first, second)[i % 2], sleeper(tok, 1.5), key) for i, tok in enumerate(tokens)
    ]
    quick = [post_run((first, second)[i % 2], hello(i), key) for i in range(4)]
    # A synchronous run on the unprivileged node waits for its result wherever it runs.
    sync = first.client.post("/api/editor/run", json=hello(99), headers=auth(key), timeout=90)
    assert sync.status_code == 200 and sync.json()["status"] == "ok", sync.text
    assert sync.json()["output"]["stdout"] == f"hello {99 * 7}\n"

    runs = all_final_and_counted_once(
        [first, second], key, [*accepted, *quick, sync.json()["runId"]]
    )
    for counter in counters:
        counter.close()
    for run_id, tok in zip(accepted, tokens, strict=True):
        assert finished(runs[run_id], tok), runs[run_id]
    for i, run_id in enumerate(quick):
        assert runs[run_id]["status"] == "ok" and runs[run_id]["output"]["stdout"] == (
            f"hello {i * 7}\n"
        )
    ran_on = [
        {host_of(deployment, uid).name for uid in counter.attempts().values()}
        for counter in counters
    ]
    assert all(len(c.attempts()) == 1 for c in counters), [c.attempts() for c in counters]
    assert set().union(*ran_on) == {"local", "remote"}, ran_on


def test_a_worker_killed_mid_run_its_run_runs_again_once_elsewhere(
    deployment: Deployment,
) -> None:
    node = deployment.api()
    deployment.worker(deployment.local)
    deployment.worker(deployment.remote)
    key = deployment.users_create("alice")
    deployment.wait_workers(2)
    tok = token()
    counter = AttemptCounter(tok)
    run_id = post_run(node, sleeper(tok, 3), key)
    [(first_attempt, first_uid)] = wait_attempts(counter, 1).items()
    assert get_run(node, run_id, key)["status"] == "running"
    victim = holder(deployment, first_uid)
    victim.kill()

    # No program outlives its worker.
    wait_for(lambda: first_attempt not in counter.running(), 5, "the program died with it")
    left = [
        *cgroup_leftovers(CGROUP_NAME),
        *rundir_leftovers(victim.host.data_dir),
        *mount_leftovers(victim.host.data_dir),
    ]
    assert left, "a worker killed mid-run left nothing behind to clean (was it killed?)"

    final = wait_final(node, run_id, key, timeout=RETRY_BOUND_S + 3 + 10)
    counter.close()
    assert finished(final, tok), final
    attempts = counter.attempts()
    assert len(attempts) == 2, attempts
    [second_uid] = [uid for tag, uid in attempts.items() if tag != first_attempt]
    assert host_of(deployment, second_uid) is not victim.host
    all_final_and_counted_once([node], key, [run_id])

    # A worker started again on that host removes what the killed one left.
    deployment.worker(victim.host)
    deployment.wait_workers(2)
    wait_for(
        lambda: (
            not cgroup_leftovers(CGROUP_NAME)
            and not rundir_leftovers(victim.host.data_dir)
            and not mount_leftovers(victim.host.data_dir)
        ),
        30,
        f"leftovers removed: {left}",
    )


def test_a_run_lost_twice_ends_internal_error_and_never_runs_a_third_time(
    deployment: Deployment,
) -> None:
    node = deployment.api()
    deployment.worker(deployment.local)
    deployment.worker(deployment.remote)
    key = deployment.users_create("alice")
    deployment.wait_workers(2)
    tok = token()
    counter = AttemptCounter(tok)
    run_id = post_run(node, sleeper(tok, 20), key)

    [(first_attempt, first_uid)] = wait_attempts(counter, 1).items()
    first_victim = holder(deployment, first_uid)
    first_victim.kill()
    wait_for(lambda: not counter.running(), 5, "the first attempt died with its worker")
    [second_uid] = [
        uid
        for tag, uid in wait_attempts(counter, 2, timeout=RETRY_BOUND_S).items()
        if tag != first_attempt
    ]
    second_victim = holder(deployment, second_uid)
    assert second_victim is not first_victim
    second_victim.kill()
    wait_for(lambda: not counter.running(), 5, "the second attempt died with its worker")
    # A live worker again: were the run given a third time, it would take it.
    deployment.worker(first_victim.host)

    final = wait_final(node, run_id, key, timeout=RETRY_BOUND_S + 10)
    assert final["status"] == "internal_error", final
    message = final["message"] or ""
    assert re.search(r"\blost\b", message, re.I) and re.search(r"twice|two", message), final
    assert final["output"] is None or "finished" not in (final["output"]["stdout"] or "")
    time.sleep(5)  # longer than a lease and a sweep: a third attempt would have begun
    counter.close()
    assert len(counter.attempts()) == 2, counter.attempts()
    # The live worker takes work: it is only this run that it did not take.
    check = post_run(node, hello(5), key)
    assert wait_final(node, check, key)["status"] == "ok"
    runs = all_final_and_counted_once([node], key, [run_id, check])
    assert runs[run_id]["status"] == "internal_error"


def test_a_worker_given_sigterm_finishes_its_run_and_takes_no_new_one(
    deployment: Deployment,
) -> None:
    node = deployment.api()
    # Two slots, one of them idle and waiting for a run when the signal comes.
    draining = deployment.worker(deployment.local, concurrency=2)
    key = deployment.users_create("alice")
    deployment.wait_workers(1)
    assert readyz(node) == 200  # one live worker is enough
    held, posted_after = token(), token()
    held_counter, after_counter = AttemptCounter(held), AttemptCounter(posted_after)
    held_id = post_run(node, sleeper(held, 3), key)
    wait_attempts(held_counter, 1)

    draining.process.send(signal.SIGTERM)
    after_id = post_run(node, sleeper(posted_after, 0.5), key)
    assert finished(wait_final(node, held_id, key, timeout=30), held)
    assert draining.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert after_counter.attempts() == {}, "the draining worker took a run after SIGTERM"
    assert get_run(node, after_id, key)["status"] == "queued"
    wait_for(lambda: readyz(node) == 503, 15, "/readyz is 503 with no live worker")

    deployment.worker(deployment.remote)
    final = wait_final(node, after_id, key, timeout=60)
    held_counter.close()
    after_counter.close()
    assert finished(final, posted_after), final
    assert [host_of(deployment, uid).name for uid in after_counter.attempts().values()] == [
        "remote"
    ]
    assert len(held_counter.attempts()) == 1
    all_final_and_counted_once([node], key, [held_id, after_id])


def test_runs_of_a_killed_api_node_finish_and_are_read_from_another(
    deployment: Deployment,
) -> None:
    doomed = deployment.api()
    survivor = deployment.api()
    deployment.worker(deployment.remote, concurrency=1)
    key = deployment.users_create("alice")
    deployment.wait_workers(1, node=survivor)
    running, synchronous = token(), token()
    counter = AttemptCounter(running)
    accepted = [post_run(doomed, sleeper(running, 2), key)]
    wait_attempts(counter, 1)
    accepted += [post_run(doomed, hello(n), key) for n in range(3)]

    box: dict[str, object] = {}

    def wait_synchronously() -> None:
        try:
            box["response"] = doomed.client.post(
                "/api/editor/run", json=sleeper(synchronous, 0.5), headers=auth(key), timeout=60
            )
        except httpx.HTTPError as exc:
            box["error"] = exc

    thread = threading.Thread(target=wait_synchronously)
    thread.start()

    def listed() -> list[str]:
        answer = survivor.client.get("/api/runs", params={"limit": 500}, headers=auth(key))
        return [item["runId"] for item in answer.json()]

    wait_for(lambda: len(listed()) == 5, 15, "the synchronous run accepted")
    [sync_id] = [run_id for run_id in listed() if run_id not in accepted]
    doomed.process.kill()
    thread.join(timeout=30)
    assert "error" in box, box  # its client lost the answer with the node

    runs = all_final_and_counted_once([survivor], key, [*accepted, sync_id])
    counter.close()
    assert finished(runs[accepted[0]], running)
    assert finished(runs[sync_id], synchronous)
    for n, run_id in enumerate(accepted[1:]):
        assert runs[run_id]["output"]["stdout"] == f"hello {n * 7}\n"


def _load(nodes: list[ApiNode], key: str) -> tuple[list[str], list[str]]:
    """Sleepers and quick runs posted to ``nodes``, the sleepers running: (ids, tokens)."""
    tokens = [token() for _ in range(4)]
    counters = [AttemptCounter(tok) for tok in tokens]
    ids = [post_run(nodes[i % len(nodes)], sleeper(tok, 2), key) for i, tok in enumerate(tokens)]
    ids += [post_run(nodes[i % len(nodes)], hello(i), key) for i in range(4)]
    wait_for(lambda: any(c.running() for c in counters), 30, "a sleeper running")
    for counter in counters:
        counter.close()
    return ids, tokens


def _check(runs: dict[str, dict[str, Any]], ids: list[str], tokens: list[str]) -> None:
    for run_id, tok in zip(ids, tokens, strict=False):
        assert finished(runs[run_id], tok), runs[run_id]
    for i, run_id in enumerate(ids[len(tokens) :]):
        assert runs[run_id]["status"] == "ok", runs[run_id]
        assert runs[run_id]["output"]["stdout"] == f"hello {i * 7}\n"


def test_every_accepted_run_survives_a_redis_restart_and_a_postgresql_restart(
    deployment: Deployment, redis: RedisServer, postgres: PostgresCluster
) -> None:
    nodes = [deployment.api(), deployment.api()]
    deployment.worker(deployment.local, concurrency=2)
    deployment.worker(deployment.remote, concurrency=2)
    key = deployment.users_create("alice")
    deployment.wait_workers(2)
    accepted: list[str] = []
    tokens: list[str] = []

    def load() -> None:
        ids, toks = _load(nodes, key)
        accepted.extend(ids)
        tokens.extend(toks)

    load()
    redis.stop()
    try:
        for node in nodes:
            refused_for_the_outage(node, "POST", "/api/runs", key, hello(100))
            refused_for_the_outage(node, "POST", "/api/editor/run", key, hello(101))
            assert readyz(node) == 503
        time.sleep(2)
    finally:
        redis.start()
    wait_for(lambda: all(readyz(n) == 200 for n in nodes), 30, "ready again after Redis")

    load()
    postgres.stop()
    try:
        for node in nodes:
            refused_for_the_outage(node, "POST", "/api/runs", key, hello(100))
            refused_for_the_outage(node, "GET", "/api/usage", key)
            refused_for_the_outage(node, "GET", f"/api/runs/{accepted[0]}", key)
            assert readyz(node) == 503
        time.sleep(2)
    finally:
        postgres.start()
    wait_for(lambda: all(readyz(n) == 200 for n in nodes), 30, "ready again after PostgreSQL")

    load()
    runs = all_final_and_counted_once(nodes, key, accepted, timeout=120)
    for batch in range(3):
        ids = accepted[batch * 8 : batch * 8 + 8]
        _check(runs, ids, tokens[batch * 4 : batch * 4 + 4])
