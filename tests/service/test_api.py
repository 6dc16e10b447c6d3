"""The HTTP contract over real HTTP, on SQLite and PostgreSQL (fake sandbox: stdout = stdin)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest

from execbox.errors import SandboxError
from execbox.sandbox.base import StepOutcome, StepSpec, Workspace
from tests.service.conftest import (
    Clock,
    EchoBackend,
    Server,
    StartServer,
    auth,
    create_user,
    set_plan,
)

RUN = "/api/editor/run"


def hello(**extra: object) -> dict[str, object]:
    return {"language": "python", "code": "print('Hello')", "stdin": "Hello\n", **extra}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return dict(body["error"])


def test_a_guest_run_answers_the_result_and_usage(server: Server) -> None:
    response = server.client.post(RUN, json=hello())
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["message"] is None
    assert body["output"] == {"stdout": "Hello\n", "stderr": "", "exitCode": 0, "signal": None}
    assert body["language"] == "python" and body["version"]
    assert len(body["runId"]) >= 32
    for key in ("compileOutput", "durationMs", "cpuTimeMs", "memoryUsed", "truncated"):
        assert key in body
    assert body["usage"] == {"plan": "guest", "runsToday": 1, "dailyLimit": 20, "remaining": 19}


def test_a_user_run_counts_against_the_users_plan(server: Server) -> None:
    key = create_user(server, "alice")
    for expected in (1, 2):
        response = server.client.post(RUN, json=hello(language="py"), headers=auth(key))
        assert response.json()["usage"] == {
            "plan": "free",
            "runsToday": expected,
            "dailyLimit": 100,
            "remaining": 100 - expected,
        }
    usage = server.client.get("/api/usage", headers=auth(key)).json()
    assert usage["runsToday"] == 2
    # the guest at the same address is counted apart
    assert server.client.get("/api/usage").json()["runsToday"] == 0


def test_program_failures_are_results_not_errors(server: Server) -> None:
    timeout = server.client.post(RUN, json=hello(code="FAKE:TIMEOUT")).json()
    assert timeout["status"] == "timeout" and timeout["output"]["signal"] == "SIGKILL"
    failed = server.client.post(RUN, json=hello(code="FAKE:FAIL")).json()
    assert failed["status"] == "runtime_error" and failed["output"]["exitCode"] == 1


def test_code_of_exactly_the_plan_size_runs_and_one_byte_more_is_refused(server: Server) -> None:
    ok = server.client.post(RUN, json=hello(code="#" * 102_400))
    assert ok.status_code == 200 and ok.json()["status"] == "ok"
    too_big = server.client.post(RUN, json=hello(code="#" * 102_401))
    error = assert_error(too_big, 413, "code_too_large")
    assert "102400" in error["message"]
    # multi-byte characters count as their UTF-8 bytes
    assert_error(server.client.post(RUN, json=hello(code="é" * 51_201)), 413, "code_too_large")
    assert server.client.get("/api/usage").json()["runsToday"] == 1


def test_invalid_json_is_a_400(server: Server) -> None:
    for raw in (b"{bad", b"", b"\xff\xfe", b'{"language": "python",'):
        response = server.client.post(
            RUN, content=raw, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 400, "invalid_json")
    # the declared type does not matter (curl -d sends a form type)
    form = server.client.post(
        RUN,
        content=json.dumps(hello()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200


def test_a_50_mb_body_is_refused_without_reading_it(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(
            b"POST /api/editor/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 52428800\r\n\r\n" + b"{" * 4096
        )
        reply = sock.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413"), reply
    assert '"body_too_large"' in reply


def test_a_huge_chunked_body_is_refused_while_streaming(server: Server) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"language": "python", "code": "'
        for _ in range(50 * 16):
            sent += 65536
            yield b"x" * 65536

    try:
        response = server.client.post(RUN, content=chunks())
    except httpx.HTTPError:
        pass  # the server may close the connection while we still send
    else:
        assert_error(response, 413, "body_too_large")
    assert server.client.get("/api/usage").json()["runsToday"] == 0


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"code": "x"}, "language", "invalid_request"),
        ({"language": "python"}, "code", "invalid_request"),
        ({"language": "python", "code": 5}, "code", "invalid_request"),
        ({"language": "python", "code": "x", "stdin": ["a"]}, "stdin", "invalid_request"),
        ({"language": "python", "code": "x", "args": "a b"}, "args", "invalid_request"),
        ({"language": "python", "code": "x", "args": [1]}, "args", "invalid_request"),
        ({"language": "python", "code": "x", "stdin": "a\x00b"}, "stdin", "invalid_input"),
        ([1, 2], "body", "invalid_request"),
    ],
)
def test_missing_or_invalid_fields_are_a_422_naming_the_field(
    server: Server, body: object, field: str, code: str
) -> None:
    error = assert_error(server.client.post(RUN, json=body), 422, code)
    assert error.get("field") == field and field in error["message"]


# (value, code for timeLimit, code for memoryLimit and fileSizeLimit): a value of the wrong
# type is an invalid_request (memoryLimit is whole megabytes, fileSizeLimit whole KB), a
# number out of range invalid_limits.
BAD_LIMITS = [
    (-1, "invalid_limits", "invalid_limits"),
    (0, "invalid_limits", "invalid_limits"),
    (1e9, "invalid_limits", "invalid_request"),
    ("5", "invalid_request", "invalid_request"),
    (2**63, "invalid_limits", "invalid_limits"),
    (True, "invalid_request", "invalid_request"),
]


@pytest.mark.parametrize("field", ["timeLimit", "memoryLimit", "fileSizeLimit"])
@pytest.mark.parametrize(("value", "time_code", "memory_code"), BAD_LIMITS)
def test_bad_limits_are_a_422_naming_the_field(
    server: Server, field: str, value: object, time_code: str, memory_code: str
) -> None:
    response = server.client.post(RUN, json=hello(**{field: value}))
    error = assert_error(response, 422, time_code if field == "timeLimit" else memory_code)
    assert error.get("field") == field and field in error["message"]


@pytest.mark.parametrize("field", ["timeLimit", "memoryLimit", "fileSizeLimit"])
def test_a_null_limit_means_not_given(server: Server, field: str) -> None:
    response = server.client.post(RUN, json=hello(**{field: None}))
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_a_request_may_lower_its_limits(server: Server) -> None:
    response = server.client.post(RUN, json=hello(timeLimit=2.5, memoryLimit=64))
    assert response.status_code == 200 and response.json()["status"] == "ok"


def test_an_unknown_language_lists_the_supported_ones(server: Server) -> None:
    error = assert_error(
        server.client.post(RUN, json=hello(language="cow")), 422, "unknown_language"
    )
    assert "python" in error["message"] and "cow" in error["message"]
    assert server.client.get("/api/usage").json()["runsToday"] == 0


def test_keys_must_be_valid_and_users_enabled(server: Server) -> None:
    for header in ("Bearer nope", "Basic abc", "Bearer"):
        response = server.client.get("/api/usage", headers={"Authorization": header})
        assert_error(response, 401, "unauthorized")
        assert_error(
            server.client.post(RUN, json=hello(), headers={"Authorization": header}),
            401,
            "unauthorized",
        )
    key = create_user(server, "mallory")
    assert server.client.get("/api/usage", headers=auth(key)).status_code == 200
    from execbox.store import Database, users

    db = Database(server.settings.effective_database_url)  # type: ignore[attr-defined]
    with db.transaction() as session:
        users.set_disabled(session, "mallory", True)
    db.close()
    assert_error(server.client.post(RUN, json=hello(), headers=auth(key)), 401, "unauthorized")


def test_a_bad_key_is_a_401_whatever_the_body_says(server: Server) -> None:
    """The caller is looked up in the transaction that admits the run; a body refused before
    that still answers 401 for a bad key, and the body's own error for a good one."""
    key = create_user(server, "alice")
    bodies: list[tuple[dict[str, object], int, str]] = [
        ({"content": b"{not json"}, 400, "invalid_json"),
        ({"json": {"language": "python"}}, 422, "invalid_request"),
        ({"json": hello(language="cow")}, 422, "unknown_language"),
        ({"json": hello(code="#" * 102_401)}, 413, "code_too_large"),
    ]
    for path in (RUN, "/api/runs"):
        for body, status, code in bodies:
            bad = server.client.post(path, headers={"Authorization": "Bearer nope"}, **body)  # type: ignore[arg-type]
            assert_error(bad, 401, "unauthorized")
            assert_error(server.client.post(path, headers=auth(key), **body), status, code)  # type: ignore[arg-type]
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 0
    done = server.client.post(RUN, json=hello(stdin="ran\n"), headers=auth(key))
    assert done.status_code == 200 and done.json()["output"]["stdout"] == "ran\n"
    assert done.json()["usage"]["runsToday"] == 1


def test_a_request_refused_after_its_quota_check_spends_nothing_and_records_nothing(
    server: Server,
) -> None:
    """The quota is spent in the admitting transaction before the language and inputs are
    checked: a later refusal rolls it back with the run it would have recorded."""
    key = create_user(server, "alice")
    set_plan(server, "free", daily_runs=2, languages=("python",))
    refusals = [
        (hello(language="cow"), 422, "unknown_language"),
        (hello(language="bash"), 403, "forbidden"),
        (hello(timeLimit=-1), 422, "invalid_limits"),
        (hello(stdin="x" * 2_000_000), 422, "invalid_input"),
        (hello(args=["a"] * 65), 422, "invalid_input"),
        (hello(args=["a\x00"]), 422, "invalid_input"),
    ]
    for _ in range(2):  # more refusals than the plan has runs: none of them counts
        for body, status, code in refusals:
            assert_error(server.client.post(RUN, json=body, headers=auth(key)), status, code)
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 0
    assert server.client.get("/api/runs", headers=auth(key)).json() == []
    for n in (1, 2):
        done = server.client.post(RUN, json=hello(stdin=f"run {n}"), headers=auth(key))
        assert done.status_code == 200 and done.json()["output"]["stdout"] == f"run {n}"
        assert done.json()["usage"]["runsToday"] == n
    assert len(server.client.get("/api/runs", headers=auth(key)).json()) == 2


def test_guests_can_be_switched_off(start_server: StartServer) -> None:
    server = start_server(guests_enabled=False)
    assert_error(server.client.post(RUN, json=hello()), 401, "unauthorized")
    key = create_user(server, "alice")
    assert server.client.post(RUN, json=hello(), headers=auth(key)).status_code == 200


def test_a_plan_can_forbid_a_language_and_changes_apply_without_restart(server: Server) -> None:
    key = create_user(server, "alice", plan="free")
    assert server.client.post(RUN, json=hello(), headers=auth(key)).status_code == 200
    set_plan(server, "free", languages=("bash",))
    error = assert_error(server.client.post(RUN, json=hello(), headers=auth(key)), 403, "forbidden")
    assert "python" in error["message"]
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 1
    set_plan(server, "free", max_code_bytes=10)
    assert_error(
        server.client.post(RUN, json=hello(code="x" * 11, language="bash"), headers=auth(key)),
        413,
        "code_too_large",
    )


def test_quota_runs_out_with_retry_after_and_renews_the_next_utc_day(
    server: Server, clock: Clock
) -> None:
    key = create_user(server, "alice")
    set_plan(server, "free", daily_runs=3)
    for _ in range(3):
        assert server.client.post(RUN, json=hello(), headers=auth(key)).status_code == 200
    refused = server.client.post(RUN, json=hello(), headers=auth(key))
    assert_error(refused, 429, "quota_exceeded")
    assert refused.headers["Retry-After"] == "60"  # the clock says 23:59:00 UTC
    assert server.client.get("/api/usage", headers=auth(key)).json() == {
        "plan": "free",
        "runsToday": 3,
        "dailyLimit": 3,
        "remaining": 0,
    }
    clock.now += timedelta(minutes=2)
    renewed = server.client.post(RUN, json=hello(), headers=auth(key))
    assert renewed.status_code == 200 and renewed.json()["usage"]["runsToday"] == 1


def test_checks_come_in_the_contracts_order(server: Server) -> None:
    key = create_user(server, "alice")
    set_plan(server, "free", daily_runs=1, max_code_bytes=100, languages=("bash",))
    assert (
        server.client.post(RUN, json=hello(language="bash"), headers=auth(key)).status_code == 200
    )
    # size before quota, quota before language, language before plan
    assert_error(
        server.client.post(RUN, json=hello(code="x" * 101, language="cow"), headers=auth(key)),
        413,
        "code_too_large",
    )
    assert_error(
        server.client.post(RUN, json=hello(language="cow"), headers=auth(key)),
        429,
        "quota_exceeded",
    )
    set_plan(server, "free", daily_runs=5)
    assert_error(
        server.client.post(RUN, json=hello(language="cow"), headers=auth(key)),
        422,
        "unknown_language",
    )
    assert_error(server.client.post(RUN, json=hello(), headers=auth(key)), 403, "forbidden")
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 1


def test_parallel_requests_cannot_both_take_the_last_run(start_server: StartServer) -> None:
    server = start_server(backend=EchoBackend(delay_s=0.05), workers=4, queue_limit=64)
    key = create_user(server, "racer")
    set_plan(server, "free", daily_runs=5)

    def post(_: int) -> int:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            return client.post(RUN, json=hello(), headers=auth(key)).status_code

    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = list(pool.map(post, range(16)))
    assert statuses.count(200) == 5 and statuses.count(429) == 11
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 5
    assert len(server.client.get("/api/runs", headers=auth(key)).json()) == 5


def test_a_full_queue_is_a_503_with_retry_after_and_costs_nothing(
    start_server: StartServer,
) -> None:
    server = start_server(backend=EchoBackend(delay_s=1.0), workers=1, queue_limit=0)

    def post(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            return client.post(RUN, json=hello())

    with ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(post, range(4)))
    busy = [r for r in responses if r.status_code == 503]
    assert busy and all(r.headers.get("Retry-After") for r in busy)
    for response in busy:
        assert_error(response, 503, "no_capacity")
    done = [r for r in responses if r.status_code == 200]
    assert len(done) + len(busy) == 4
    assert server.client.get("/api/usage").json()["runsToday"] == len(done)


def test_users_see_only_their_own_runs(server: Server) -> None:
    alice, bob = create_user(server, "alice"), create_user(server, "bob")
    run = server.client.post(RUN, json=hello(stdin="alice's secret"), headers=auth(alice)).json()
    mine = server.client.get(f"/api/runs/{run['runId']}", headers=auth(alice))
    assert mine.status_code == 200
    detail = mine.json()
    assert detail["stdin"] == "alice's secret" and detail["code"] == "print('Hello')"
    assert detail["output"]["stdout"] == "alice's secret" and detail["status"] == "ok"
    assert detail["createdAt"].endswith("Z") and detail["finishedAt"]
    assert_error(
        server.client.get(f"/api/runs/{run['runId']}", headers=auth(bob)), 404, "not_found"
    )
    assert_error(server.client.get(f"/api/runs/{run['runId']}"), 404, "not_found")
    assert server.client.get("/api/runs", headers=auth(bob)).json() == []
    listed = server.client.get("/api/runs", headers=auth(alice)).json()
    assert [item["runId"] for item in listed] == [run["runId"]]


def test_recent_runs_are_newest_first(server: Server, clock: Clock) -> None:
    ids = []
    for n in range(3):
        clock.now += timedelta(seconds=1)
        ids.append(server.client.post(RUN, json=hello(stdin=str(n))).json()["runId"])
    listed = server.client.get("/api/runs").json()
    assert [item["runId"] for item in listed] == ids[::-1]
    assert [item["runId"] for item in server.client.get("/api/runs?limit=1").json()] == ids[-1:]


class BrokenBackend(EchoBackend):
    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        raise SandboxError("bubblewrap is missing")


def test_a_sandbox_failure_is_an_internal_error_result_not_charged(
    start_server: StartServer,
) -> None:
    server = start_server(backend=BrokenBackend())
    body = server.client.post(RUN, json=hello()).json()
    assert body["status"] == "internal_error" and "sandbox" in body["message"]
    assert body["usage"]["runsToday"] == 0
    ready = server.client.get("/readyz")
    assert_error(ready, 503, "not_ready")
    assert "sandbox" in ready.json()["error"]["message"]
    metrics = server.client.get("/metrics").text
    assert "execbox_sandbox_failures_total 1.0" in metrics


def test_health_readiness_metrics_languages_docs_and_editor(server: Server) -> None:
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    server.client.post(RUN, json=hello())
    metrics = server.client.get("/metrics")
    assert metrics.status_code == 200
    assert 'execbox_runs_total{language="python",status="ok"} 1.0' in metrics.text
    for name in (
        "execbox_queue_depth",
        "execbox_queue_wait_seconds",
        "execbox_run_duration_seconds",
    ):
        assert name in metrics.text
    languages = server.client.get("/api/languages").json()
    python = next(item for item in languages if item["id"] == "python")
    assert {"id", "name", "version", "aliases"} <= set(python) and "py" in python["aliases"]
    assert python["starter"] and python["extensions"] == [".py"]  # what the editor starts from
    assert python["highlight"] == "python" and python["sourceFile"] == "main.py"
    assert server.client.get("/docs").status_code == 200
    assert "/api/editor/run" in server.client.get("/openapi.json").json()["paths"]
    page = server.client.get("/")
    assert page.status_code == 200 and "html" in page.headers["content-type"]


def test_unknown_routes_and_methods_use_the_error_body(server: Server) -> None:
    assert_error(server.client.get("/api/nope"), 404, "not_found")
    assert_error(server.client.get(RUN), 405, "method_not_allowed")


@pytest.mark.parametrize(
    ("field", "code"),
    [
        ("code", "invalid_input"),
        ("stdin", "invalid_input"),
        ("args", "invalid_input"),
        ("language", "invalid_request"),
    ],
)
def test_unpaired_surrogates_are_refused_not_a_500(server: Server, field: str, code: str) -> None:
    value: object = ["\ud800"] if field == "args" else "\ud800"
    body = json.dumps({**hello(), field: value})  # json.dumps escapes it as \ud800
    error = assert_error(server.client.post(RUN, content=body), 422, code)
    assert error.get("field") == field


def test_a_long_forwarded_address_is_still_a_guest(server: Server) -> None:
    response = server.client.post(RUN, json=hello(), headers={"X-Forwarded-For": "x" * 5000})
    assert response.status_code == 200 and response.json()["usage"]["runsToday"] == 1
