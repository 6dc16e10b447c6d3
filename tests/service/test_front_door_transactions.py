"""Judge0 and Piston look their caller up in the transaction that admits the run, as the
native API does: two transactions per run (Judge0's ``wait=true`` reads the stored run
for its answer: a third), and their refusals in the order they always had."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from tests.service.conftest import Server, create_user, set_plan
from tests.service.test_judge0 import J, token_header, usage
from tests.service.test_judge0 import hello as judge0_hello
from tests.service.test_piston import P
from tests.service.test_piston import hello as piston_hello


@contextmanager
def transactions(server: Server) -> Iterator[list[str]]:
    """The transactions the server's database begins meanwhile (their threads' names)."""
    app: Any = server.server.config.app
    engine = app.state.execbox.db.engine
    begun: list[str] = []

    def begin(_connection: Any) -> None:
        begun.append(threading.current_thread().name)

    event.listen(engine, "begin", begin)
    try:
        yield begun
    finally:
        event.remove(engine, "begin", begin)


def test_each_front_door_costs_two_transactions_per_run(server: Server) -> None:
    key = create_user(server, "counted")
    native = {"Authorization": f"Bearer {key}"}
    with transactions(server) as begun:
        answer = server.client.post(
            "/api/editor/run",
            json={"language": "python", "code": "x", "stdin": "native"},
            headers=native,
        )
    assert answer.status_code == 200 and answer.json()["output"]["stdout"] == "native"
    assert len(begun) == 2, begun

    with transactions(server) as begun:
        answer = server.client.post(
            f"{P}/execute", content=json.dumps(piston_hello(stdin="piston")), headers=native
        )
    assert answer.status_code == 200, answer.text
    assert answer.json()["run"]["stdout"] == "piston"
    assert len(begun) == 2, begun

    with transactions(server) as begun:
        answer = server.client.post(
            f"{J}/submissions",
            params={"wait": "true"},
            json=judge0_hello(stdin="judge0"),
            headers=token_header(key),
        )
    assert answer.status_code == 201, answer.text
    assert answer.json()["stdout"] == "judge0"
    assert len(begun) == 3, begun  # admission, result, and the stored run read for the answer
    assert usage(server, native) == 3


def test_judge0_refusals_keep_their_order(server: Server) -> None:
    """A bad key is 401 whatever the body says; with a good key the body's own 422 (invalid
    JSON, a limit over the plan's), and a refused submission counts nothing."""
    key = create_user(server, "judged")
    set_plan(server, "free", time_limit_s=2.0)
    for body in ("{not json", json.dumps(judge0_hello(cpu_time_limit=5))):
        bad = server.client.post(f"{J}/submissions", content=body, headers={**token_header("nope")})
        assert bad.status_code == 401 and "error" in bad.json(), bad.text
    bad_json = server.client.post(
        f"{J}/submissions", content="{not json", headers=token_header(key)
    )
    assert bad_json.status_code == 422 and "base" in bad_json.json(), bad_json.text
    over = server.client.post(
        f"{J}/submissions", json=judge0_hello(cpu_time_limit=5), headers=token_header(key)
    )
    assert over.status_code == 422 and "cpu_time_limit" in over.json(), over.text
    assert usage(server, {"Authorization": f"Bearer {key}"}) == 0
    ok = server.client.post(
        f"{J}/submissions",
        params={"wait": "true"},
        json=judge0_hello(cpu_time_limit=2, stdin="ran"),
        headers=token_header(key),
    )
    assert ok.status_code == 201 and ok.json()["stdout"] == "ran", ok.text
    assert usage(server, {"Authorization": f"Bearer {key}"}) == 1


def test_piston_refusals_keep_their_order(server: Server) -> None:
    """Invalid JSON is 400 before the key is looked at; then a bad key is 401 whatever the
    runtime or limits; with a good key an unknown runtime or a limit over the plan's is
    400; a refused request counts nothing."""
    key = create_user(server, "pistoned")
    set_plan(server, "free", time_limit_s=2.0)
    good, wrong = {"Authorization": f"Bearer {key}"}, {"Authorization": "Bearer wrong"}
    invalid = server.client.post(f"{P}/execute", content="{not json", headers=wrong)
    assert invalid.status_code == 400, invalid.text
    for body in (piston_hello(language="klingon"), piston_hello(run_timeout=5000)):
        bad = server.client.post(f"{P}/execute", content=json.dumps(body), headers=wrong)
        assert bad.status_code == 401 and bad.json()["message"], bad.text
    unknown = server.client.post(
        f"{P}/execute", content=json.dumps(piston_hello(language="klingon")), headers=good
    )
    assert unknown.status_code == 400 and "runtime is unknown" in unknown.json()["message"]
    over = server.client.post(
        f"{P}/execute", content=json.dumps(piston_hello(run_timeout=5000)), headers=good
    )
    assert over.status_code == 400 and "2000" in over.json()["message"], over.text
    assert usage(server, good) == 0
    ok = server.client.post(
        f"{P}/execute", content=json.dumps(piston_hello(stdin="ran")), headers=good
    )
    assert ok.status_code == 200 and ok.json()["run"]["stdout"] == "ran", ok.text
    assert usage(server, good) == 1
