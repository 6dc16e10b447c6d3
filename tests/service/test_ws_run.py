"""WebSocket /api/ws/run over a real socket, on the real sandboxes (native and Docker)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.service.conftest import Server, StartServer, auth, create_user, set_plan
from tests.service.wsclient import Client, Real, real, real_server, ws_url

__all__ = ["real", "real_server"]  # fixtures

RUN = {"type": "run", "language": "python"}


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite: the run log's dialects are the store's tests' business."""
    return f"sqlite:///{tmp_path / 'execbox.db'}"


PROMPT = """
import sys
print("What is your name?", flush=True)
name = sys.stdin.readline().strip()
print(f"Hello, {name}!", flush=True)
rest = sys.stdin.read()
print(f"then {len(rest)} bytes", flush=True)
"""


@pytest.fixture
def fake(start_server: StartServer) -> Server:
    return start_server()


@pytest.fixture
def client_of() -> Iterator[list[Client]]:
    clients: list[Client] = []
    yield clients
    for client in clients:
        client.close()


def connect(
    server: Server | Real, clients: list[Client], headers: dict[str, str] | None = None
) -> Client:
    if isinstance(server, Real) and headers is None:
        headers = server.headers
    client = Client(ws_url(server.url), headers)
    clients.append(client)
    return client


def stored(server: Server | Real, run_id: str) -> dict[str, Any]:
    """The run as ``GET /api/runs/{id}`` shows it, once it is final (waits up to 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        if isinstance(server, Real):
            body = server.get(f"/api/runs/{run_id}")
        else:
            body = server.client.get(f"/api/runs/{run_id}").json()
        if body.get("status") not in ("queued", "running") or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.1)


def test_a_prompt_is_answered_while_the_program_runs(real: Real, client_of: list[Client]) -> None:
    client = connect(real, client_of)
    client.send(**RUN, code=PROMPT)
    started = client.next()
    assert started["type"] == "started" and started["language"] == "python"
    assert started["runId"] and started["version"]
    client.until_text("stdout", "What is your name?\n")
    client.send(type="stdin", data="Ada\n")
    client.until_text("stdout", "Hello, Ada!\n")
    client.send(type="stdin", data="é!")
    client.send(type="stdin_end")
    frames = client.rest()
    result = frames.of("result")[0]
    assert frames.kinds[0] == "started" and frames.kinds[-1] == "result"
    assert result["status"] == "ok", result
    assert result["output"]["stdout"] == "What is your name?\nHello, Ada!\nthen 2 bytes\n"
    assert frames.text("stdout") == result["output"]["stdout"]
    assert result["runId"] == started["runId"] and result["usage"]["runsToday"] == 1
    assert frames.close_code == 1000
    assert stored(real, started["runId"])["status"] == "ok"


def test_the_first_line_arrives_before_the_program_ends(
    real: Real, client_of: list[Client]
) -> None:
    client = connect(real, client_of)
    code = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('last')\n"
    client.send(**RUN, code=code, stdin="")
    first = client.until_text("stdout", "first\n")
    result = client.until("result")
    ended = client.frames.got[-1][0]
    assert result["status"] == "ok" and result["output"]["stdout"] == "first\nlast\n"
    assert ended - first >= 2.5  # the program was still sleeping when "first" arrived


def test_upfront_stdin_is_fed_first_and_input_stays_open(
    real: Real, client_of: list[Client]
) -> None:
    client = connect(real, client_of)
    client.send(**RUN, code=PROMPT, stdin="Grace\n")
    client.send(type="stdin", data="sent before it started")
    client.until_text("stdout", "Hello, Grace!\n")
    client.send(type="stdin_end")
    result = client.until("result")
    assert result["status"] == "ok"
    assert result["output"]["stdout"].endswith(f"then {len('sent before it started')} bytes\n")


def test_kill_stops_the_run_and_it_is_stored(real: Real, client_of: list[Client]) -> None:
    client = connect(real, client_of)
    code = "import itertools, time\nfor i in itertools.count():\n    print(i, flush=True)\n"
    client.send(**RUN, code=code + "    time.sleep(0.05)\n")
    run_id = client.next()["runId"]
    client.until_text("stdout", "3\n")
    client.send(type="kill")
    asked = time.monotonic()
    frames = client.rest()
    result = frames.of("result")[0]
    assert time.monotonic() - asked < 10
    assert result["status"] == "runtime_error"
    assert result["output"]["signal"] == "SIGKILL" and result["output"]["exitCode"] is None
    assert "stopped" in result["message"].lower()
    assert frames.text("stdout") == result["output"]["stdout"]
    assert stored(real, run_id)["status"] == "runtime_error"


def test_kill_during_compile(real: Real, client_of: list[Client]) -> None:
    client = connect(real, client_of)
    code = (
        "constexpr long f() { long s = 0;\n"
        "  for (long i = 0; i < 200000; i++) for (long j = 0; j < 200000; j++) s += j;\n"
        "  return s; }\nstatic_assert(f() > 0);\nint main() {}\n"
    )
    client.send(type="run", language="cpp", code=code)
    client.until("started")
    time.sleep(2)
    client.send(type="kill")
    result = client.until("result", timeout=30)
    assert result["status"] == "runtime_error", result
    assert result["output"]["signal"] == "SIGKILL" and "stopped" in result["message"].lower()


def test_a_client_that_leaves_ends_its_run_which_is_stored(
    real: Real, client_of: list[Client]
) -> None:
    client = connect(real, client_of)
    client.send(**RUN, code="import sys\nprint('waiting', flush=True)\nsys.stdin.read()\n")
    run_id = client.next()["runId"]
    client.until_text("stdout", "waiting\n")
    client.close()
    left = time.monotonic()
    deadline = left + 2.0
    while True:
        body = real.get(f"/api/runs/{run_id}")
        if body["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline + 1.0, "the run outlived its client by far"
        time.sleep(0.05)
    assert time.monotonic() - left <= 2.5  # ended within 2 s (and stored), with slack to read
    assert body["status"] == "runtime_error" and body["output"]["signal"] == "SIGKILL"
    assert "client" in body["message"].lower()
    assert body["output"]["stdout"] == "waiting\n"
    assert real.get("/api/usage")["runsToday"] == 1


def test_output_is_capped_and_frames_join_to_the_result(
    start_server: StartServer, client_of: list[Client]
) -> None:
    server = start_server(backend="real", output_limit_bytes=64 * 1024)
    client = connect(server, client_of)
    # 'é' is two bytes: a cut at the cap or between reads must never split one in a frame
    code = "import sys\nwhile True:\n    sys.stdout.write('é' * 1001)\n    sys.stdout.flush()\n"
    client.send(**RUN, code=code)
    frames = client.rest()
    result = frames.of("result")[0]
    assert result["status"] == "output_limit" and result["truncated"]
    joined = frames.text("stdout")
    assert joined == result["output"]["stdout"]
    assert len(joined.encode()) == 64 * 1024 and "\ufffd" not in joined


def test_a_character_split_across_writes_is_sent_whole(real: Real, client_of: list[Client]) -> None:
    client = connect(real, client_of)
    code = (
        "import sys, time\nsys.stdout.buffer.write(b'a\\xc3'); sys.stdout.flush()\n"
        "time.sleep(0.5)\nsys.stdout.buffer.write(b'\\xa9b'); sys.stdout.flush()\n"
    )
    client.send(**RUN, code=code)
    frames = client.rest()
    assert [f["data"] for f in frames.of("stdout") if "\ufffd" in f["data"]] == []
    assert frames.text("stdout") == "aéb" == frames.of("result")[0]["output"]["stdout"]


def test_the_wall_clock_limit_is_the_interactive_one(
    start_server: StartServer, client_of: list[Client]
) -> None:
    server = start_server(backend="real", interactive_time_limit_s=3, time_limit_s=1)
    client = connect(server, client_of)
    client.send(**RUN, code="import sys, time\ntime.sleep(2)\nprint(sys.stdin.read())\n")
    client.next()
    time.sleep(2.5)  # past the plan's 1 s: a person typing
    client.send(type="stdin", data="typed")
    client.send(type="stdin_end")
    result = client.until("result")
    assert result["status"] == "ok", result
    assert result["output"]["stdout"] == "typed\n"


def test_a_client_that_never_reads_does_not_grow_the_server(
    start_server: StartServer, client_of: list[Client]
) -> None:
    server = start_server(backend="real", output_limit_bytes=4 << 20)
    key = create_user(server, "slow-reader")
    client = connect(server, client_of, auth(key))
    client.send(**RUN, code="import sys\nwhile True:\n    sys.stdout.write('x' * 65536 + '\\n')\n")
    run_id = None
    before = _rss()
    # Never read a frame: the run still ends at its output cap and is stored.
    deadline = time.monotonic() + 60
    while run_id is None and time.monotonic() < deadline:
        runs = server.client.get("/api/runs", headers=auth(key)).json()
        run_id = runs[0]["runId"] if runs else None
        time.sleep(0.1)
    assert run_id is not None
    deadline = time.monotonic() + 60
    while True:
        body = server.client.get(f"/api/runs/{run_id}", headers=auth(key)).json()
        if body["status"] not in ("queued", "running") or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body["status"] == "output_limit", body
    assert _rss() - before < 64 << 20


def test_a_client_that_never_reads_holds_no_worker_once_its_run_ended(
    start_server: StartServer, client_of: list[Client]
) -> None:
    # One worker: while the stalled client's socket is still open (the server gives it 10 s
    # after its run to read what is left), another run gets that worker at once.
    server = start_server(backend="real", workers=1, output_limit_bytes=1 << 20)
    stalled, other = create_user(server, "stalled"), create_user(server, "other")
    client = connect(server, client_of, auth(stalled))
    client.send(**RUN, code="import sys\nwhile True:\n    sys.stdout.write('x' * 65536 + '\\n')\n")
    deadline = time.monotonic() + 60
    while True:
        runs = server.client.get("/api/runs", headers=auth(stalled)).json()
        if runs and runs[0]["status"] not in ("queued", "running"):
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.1)
    assert runs[0]["status"] == "output_limit", runs
    asked = time.monotonic()
    response = server.client.post(
        "/api/editor/run",
        json={"language": "python", "code": "print('next')"},
        headers=auth(other),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.json()["output"]["stdout"] == "next\n"
    assert time.monotonic() - asked < 8, "the next run waited for the stalled client"


def _rss() -> int:
    with open(f"/proc/{os.getpid()}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


# --- refusals (the fake backend: nothing runs) ----------------------------------------------


def refusal(client: Client) -> dict[str, Any]:
    frame = client.next()
    frames = client.rest(timeout=10)
    assert frames.kinds == ["error"], frames.got
    return frame


def test_an_invalid_key_is_refused_with_401(fake: Server, client_of: list[Client]) -> None:
    client = connect(fake, client_of)
    client.send(**RUN, code="print(1)", apiKey="not-a-key")
    frame = refusal(client)
    assert frame["status"] == 401 and frame["error"]["code"] == "unauthorized"
    client = connect(fake, client_of, auth("not-a-key"))
    client.send(**RUN, code="print(1)")
    assert refusal(client)["status"] == 401


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ({"type": "run", "language": "python"}, 422, "invalid_request"),
        ({"type": "run", "language": "klingon", "code": "x"}, 422, "unknown_language"),
        ({"type": "run", "language": "python", "code": "x" * 200_000}, 413, "code_too_large"),
    ],
)
def test_a_bad_key_is_a_401_whatever_the_run_message_says(
    fake: Server, client_of: list[Client], message: dict[str, Any], status: int, code: str
) -> None:
    """The caller is looked up as the run is admitted; a message refused before that still
    answers 401 for a bad key, and its own refusal for a good one."""
    key = create_user(fake, "streamer")
    client = connect(fake, client_of)
    client.send(**message, apiKey="not-a-key")
    assert refusal(client)["error"]["code"] == "unauthorized"
    client = connect(fake, client_of)
    client.send(**message, apiKey=key)
    frame = refusal(client)
    assert (frame["status"], frame["error"]["code"]) == (status, code)
    assert fake.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 0
    client = connect(fake, client_of)
    client.send(**RUN, code="print(1)", apiKey=key)
    assert client.next()["type"] == "started"
    assert client.until("result")["usage"]["runsToday"] == 1


def test_the_key_goes_in_the_header_or_in_api_key(fake: Server, client_of: list[Client]) -> None:
    key = create_user(fake, "streamer", plan="pro")
    for headers, extra in ((auth(key), {}), (None, {"apiKey": key})):
        client = connect(fake, client_of, headers)
        client.send(**RUN, code="print(1)", **extra)
        assert client.next()["type"] == "started"
        result = client.until("result")
        assert result["usage"]["plan"] == "pro"


@pytest.mark.parametrize(
    ("message", "status", "code"),
    [
        ({"type": "run", "language": "klingon", "code": "x"}, 422, "unknown_language"),
        ({"type": "run", "language": "python"}, 422, "invalid_request"),
        ({"type": "run", "language": "python", "code": 5}, 422, "invalid_request"),
        ({"type": "stdin", "data": "x"}, 422, "invalid_request"),
        ({"type": "run", "language": "python", "code": "x" * 200_000}, 413, "code_too_large"),
        ({"type": "run", "language": "python", "code": "x", "timeLimit": 9999}, 422, None),
    ],
)
def test_refusals_are_the_http_api_s(
    fake: Server, client_of: list[Client], message: dict[str, Any], status: int, code: str | None
) -> None:
    client = connect(fake, client_of)
    client.send(**message)
    frame = refusal(client)
    assert frame["status"] == status, frame
    if code is not None:
        assert frame["error"]["code"] == code
    assert fake.client.get("/api/usage").json()["runsToday"] == 0  # a refusal is not a run


@pytest.mark.parametrize("text", ["{not json", "[" * 1000 + "]" * 1000], ids=["bad", "deep"])
def test_bad_json_is_a_400(fake: Server, client_of: list[Client], text: str) -> None:
    client = connect(fake, client_of)
    client.conn.send(text)
    frame = refusal(client)
    assert frame["status"] == 400 and frame["error"]["code"] == "invalid_json"


def test_a_used_up_quota_is_a_429_with_retry_after(fake: Server, client_of: list[Client]) -> None:
    set_plan(fake, "guest", daily_runs=1)
    client = connect(fake, client_of)
    client.send(**RUN, code="print(1)")
    assert client.until("result")["usage"]["remaining"] == 0
    client = connect(fake, client_of)
    client.send(**RUN, code="print(1)")
    frame = refusal(client)
    assert frame["status"] == 429 and frame["error"]["code"] == "quota_exceeded"
    assert frame["retryAfter"] > 0


def test_no_key_with_guests_off_is_a_401(
    start_server: StartServer, client_of: list[Client]
) -> None:
    server = start_server(guests_enabled=False)
    client = connect(server, client_of)
    client.send(**RUN, code="print(1)")
    assert refusal(client)["status"] == 401
