"""Piston v2's WebSocket /piston/api/v2/connect over a real socket, on the real sandbox."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.service.conftest import Server, StartServer, auth
from tests.service.wsclient import Client, Real, real, real_server, ws_url

__all__ = ["real", "real_server"]  # fixtures

CONNECT = "/piston/api/v2/connect"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'execbox.db'}"


def connect(real: Real) -> Client:
    return Client(ws_url(real.url, CONNECT), real.headers)


def init(language: str, code: str, **extra: object) -> dict[str, object]:
    return {
        "type": "init",
        "language": language,
        "version": "*",
        "files": [{"content": code}],
    } | extra


def test_a_run_streams_as_piston_s(real: Real) -> None:
    client = connect(real)
    code = "name = input('Name? ')\nprint(f'Hi {name}')\n"
    client.send(**init("python", code))
    runtime = client.next()
    assert runtime["type"] == "runtime" and runtime["language"] == "python"
    assert runtime["version"]
    assert client.next() == {"type": "stage", "stage": "run"}
    while "Name? " not in "".join(
        f["data"] for f in client.frames.of("data") if f["stream"] == "stdout"
    ):
        assert client.next()["type"] == "data"
    client.send(type="data", stream="stdin", data="Ada\n")
    frames = client.rest()
    exits = frames.of("exit")
    assert exits and exits[-1]["stage"] == "run" and exits[-1]["code"] == 0, frames.got
    stdout = "".join(f["data"] for f in frames.of("data") if f["stream"] == "stdout")
    assert stdout == "Name? Hi Ada\n"
    assert frames.kinds[-1] == "exit" and frames.close_code == 4999
    runs = real.server.client.get("/api/runs", headers=real.headers).json()
    assert [r["status"] for r in runs] == ["ok"]  # stored and counted like any run


def test_a_compiled_language_has_two_stages(real: Real) -> None:
    client = connect(real)
    client.send(**init("c", '#include <stdio.h>\nint main(void){puts("built");return 3;}\n'))
    frames = client.rest()
    kinds = [(f["type"], f.get("stage")) for _, f in frames.got if f["type"] in ("stage", "exit")]
    assert kinds == [("stage", "compile"), ("exit", "compile"), ("stage", "run"), ("exit", "run")]
    assert frames.of("exit")[-1]["code"] == 3
    assert "".join(f["data"] for f in frames.of("data")) == "built\n"
    assert frames.close_code == 4999


def test_a_signal_ends_the_run(real: Real) -> None:
    client = connect(real)
    client.send(**init("python", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"))
    while "up" not in "".join(f["data"] for f in client.frames.of("data")):
        client.next()
    client.send(type="signal", signal="SIGKILL")
    asked = time.monotonic()
    frames = client.rest()
    assert time.monotonic() - asked < 10
    last = frames.of("exit")[-1]
    assert last["signal"] == "SIGKILL" and last["code"] is None
    assert frames.close_code == 4999


@pytest.mark.parametrize(
    ("messages", "code"),
    [
        ([{"type": "data", "stream": "stdin", "data": "x"}], 4003),
        ([{"type": "signal", "signal": "SIGKILL"}], 4003),
    ],
)
def test_piston_s_close_codes_before_init(
    real: Real, messages: list[dict[str, object]], code: int
) -> None:
    client = connect(real)
    for message in messages:
        client.send(**message)
    assert client.rest(timeout=10).close_code == code


@pytest.mark.parametrize("text", ["{not json", "[" * 1000 + "]" * 1000], ids=["bad", "deep"])
def test_a_message_that_is_not_json_is_4002(real: Real, text: str) -> None:
    client = connect(real)
    client.conn.send(text)
    assert client.rest(timeout=10).close_code == 4002


def test_no_init_within_a_second_is_4001(real: Real) -> None:
    client = connect(real)
    assert client.rest(timeout=10).close_code == 4001


@pytest.mark.parametrize(
    ("after_init", "code"),
    [
        ({"type": "init", "language": "python", "version": "*", "files": []}, 4000),
        ({"type": "data", "stream": "stdout", "data": "x"}, 4004),
        ({"type": "signal", "signal": "SIGNOPE"}, 4005),
    ],
)
def test_piston_s_close_codes_after_init(
    real: Real, after_init: dict[str, object], code: int
) -> None:
    client = connect(real)
    client.send(**init("python", "import time\nprint('up', flush=True)\ntime.sleep(60)\n"))
    while "up" not in "".join(f["data"] for f in client.frames.of("data")):
        client.next()
    client.send(**after_init)
    assert client.rest(timeout=30).close_code == code


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"language": "klingon"}, "klingon-* runtime is unknown"),
        ({"version": "0.0.1"}, "python-0.0.1 runtime is unknown"),
        ({"files": "print(1)"}, "files is required as an array"),
        ({"run_timeout": "soon"}, "If specified, run_timeout must be a number"),
    ],
)
def test_refusals_are_an_error_then_4002(real: Real, body: dict[str, object], message: str) -> None:
    client = connect(real)
    client.send(**(init("python", "print(1)") | body))
    frames = client.rest(timeout=10)
    assert frames.kinds == ["error"] and frames.of("error")[0]["message"] == message
    assert frames.close_code == 4002


def test_an_invalid_key_is_refused(start_server: StartServer) -> None:
    server: Server = start_server()
    client = Client(ws_url(server.url, CONNECT), auth("not-a-key"))
    try:
        client.send(**init("python", "print(1)"))
        frames = client.rest(timeout=10)
    finally:
        client.close()
    assert frames.kinds == ["error"] and "not valid" in frames.of("error")[0]["message"]
    assert frames.close_code == 4002
