"""The service on the real sandbox: hello world, concurrency, restarts, drain, crash recovery."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.service.conftest import UID_BASE, StartServer, auth, create_user, free_port

RUN = "/api/editor/run"


def test_hello_world_runs_in_the_real_sandbox(start_server: StartServer) -> None:
    server = start_server(backend="real")
    response = server.client.post(
        RUN, json={"language": "python", "code": "print('Hello')\nprint(2+2)", "stdin": ""}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok", body
    assert body["output"]["stdout"] == "Hello\n4\n" and body["output"]["exitCode"] == 0
    assert body["memoryUsed"] > 0 and body["durationMs"] > 0
    assert server.client.get("/readyz").json()["status"] == "ready"


FILE_WRITER = """import errno, os
with open("small", "wb") as f:
    f.write(b"x" * 10_000)
print("small", os.path.getsize("small"))
try:
    with open("big", "wb") as f:
        f.write(b"x" * 200_000)
except OSError as exc:
    print("refused", exc.errno == errno.EFBIG)
print("big", os.path.getsize("big"))
"""


def test_a_file_size_limit_stops_a_file_at_its_size(start_server: StartServer) -> None:
    """``fileSizeLimit`` (KB): writing past it fails (Python ignores SIGXFSZ: EFBIG), the
    file stops at the limit, and files under it are written whole."""
    server = start_server(backend="real")
    response = server.client.post(
        RUN, json={"language": "python", "code": FILE_WRITER, "fileSizeLimit": 64}
    )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok", body
    assert body["output"]["stdout"] == "small 10000\nrefused True\nbig 65536\n"


def test_24_concurrent_runs_each_get_their_own_output(start_server: StartServer) -> None:
    server = start_server(backend="real", workers=4, queue_limit=64)
    key = create_user(server, "load", plan="pro")

    def post(n: int) -> tuple[int, dict[str, object]]:
        code = f"import sys\nprint({n} * 1000 + int(sys.stdin.read()))"
        with httpx.Client(base_url=server.url, timeout=300) as client:
            response = client.post(
                RUN, json={"language": "python", "code": code, "stdin": str(n)}, headers=auth(key)
            )
        return n, response.json()

    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(post, range(24)))
    for n, body in results:
        assert body["status"] == "ok", body
        assert body["output"] == {
            "stdout": f"{n * 1000 + n}\n",
            "stderr": "",
            "exitCode": 0,
            "signal": None,
        }
    assert len({body["runId"] for _, body in results}) == 24
    assert server.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 24


def test_a_restart_keeps_history_and_usage(start_server: StartServer) -> None:
    first = start_server(backend="real")
    key = create_user(first, "alice")
    run = first.client.post(
        RUN, json={"language": "bash", "code": "echo kept"}, headers=auth(key)
    ).json()
    assert run["status"] == "ok"
    first.stop()
    second = start_server(backend="real")
    detail = second.client.get(f"/api/runs/{run['runId']}", headers=auth(key)).json()
    assert detail["output"]["stdout"] == "kept\n" and detail["code"] == "echo kept"
    assert second.client.get("/api/usage", headers=auth(key)).json()["runsToday"] == 1


class ServeProcess:
    """``execbox serve`` as an operator starts it, in a subprocess."""

    def __init__(self, data_dir: Path, database_url: str, **settings: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "EXECBOX_DATA_DIR": str(data_dir),
            "EXECBOX_DATABASE_URL": database_url,
            "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
            "EXECBOX_SANDBOX_UID_COUNT": "64",
            **{f"EXECBOX_{name.upper()}": value for name, value in settings.items()},
        }
        exe = Path(sys.executable).with_name("execbox")
        self.process = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError(f"execbox serve did not start: {self.process.stdout.read()}")  # type: ignore[union-attr]
            time.sleep(0.1)

    def post_in_background(self, body: Mapping[str, object], key: str) -> dict[str, object]:
        box: dict[str, object] = {}

        def post() -> None:
            try:
                box["response"] = httpx.post(
                    self.url + RUN, json=body, headers=auth(key), timeout=120
                )
            except httpx.HTTPError as exc:
                box["error"] = exc

        box["thread"] = thread = threading.Thread(target=post)
        thread.start()
        return box

    def stop(self, sig: int) -> int:
        self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=120)
        finally:
            if self.process.stdout:
                self.process.stdout.close()


def cli_user(data_dir: Path, database_url: str, name: str) -> str:
    env = {**os.environ, "EXECBOX_DATA_DIR": str(data_dir), "EXECBOX_DATABASE_URL": database_url}
    exe = Path(sys.executable).with_name("execbox")
    done = subprocess.run(
        [str(exe), "users", "create", name], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip().splitlines()[-1]


def wait_until_running(url: str, key: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        runs = httpx.get(url + "/api/runs", headers=auth(key), timeout=10).json()
        if runs and runs[0]["status"] == "queued":
            time.sleep(0.5)  # let the sandbox start the program
            return
        time.sleep(0.05)
    pytest.fail("the run never started")


SLOW = {"language": "python", "code": "import time\ntime.sleep(2)\nprint('finished')"}


def test_sigterm_drains_the_runs_in_flight(data_dir: Path, database_url: str) -> None:
    key = cli_user(data_dir, database_url, "alice")
    serve = ServeProcess(data_dir, database_url)
    box = serve.post_in_background(SLOW, key)
    wait_until_running(serve.url, key)
    assert serve.stop(signal.SIGTERM) in (
        0,
        -signal.SIGTERM,
    )  # uvicorn re-raises it after the drain
    box["thread"].join(timeout=60)  # type: ignore[attr-defined]
    response = box.get("response")
    assert isinstance(response, httpx.Response), box.get("error")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["output"]["stdout"] == "finished\n"

    again = ServeProcess(data_dir, database_url)
    try:
        listed = httpx.get(again.url + "/api/runs", headers=auth(key), timeout=10).json()
        assert [item["status"] for item in listed] == ["ok"]
    finally:
        again.stop(signal.SIGTERM)


def test_sigusr1_prints_every_threads_stack_and_the_service_goes_on(
    data_dir: Path, database_url: str
) -> None:
    """What an operator (or a test harness) asks of a process that does not end: where each
    thread is.  The run in flight shows waiting on its sandbox, and still finishes."""
    key = cli_user(data_dir, database_url, "alice")
    serve = ServeProcess(data_dir, database_url)
    box = serve.post_in_background(SLOW, key)
    wait_until_running(serve.url, key)
    serve.process.send_signal(signal.SIGUSR1)
    box["thread"].join(timeout=60)  # type: ignore[attr-defined]
    response = box.get("response")
    assert isinstance(response, httpx.Response), box.get("error")
    assert response.json()["status"] == "ok" and response.json()["output"]["stdout"] == "finished\n"
    assert serve.process.poll() is None  # SIGUSR1 did not end it
    serve.process.send_signal(signal.SIGTERM)
    output, _ = serve.process.communicate(timeout=120)
    assert re.search(r"^Thread 0x[0-9a-f]+ \(most recent call first\):$", output, re.M), output
    assert "execbox/sandbox/native/supervise.py" in output  # the run's thread, on its sandbox
    assert re.search(r"^Current thread 0x[0-9a-f]+", output, re.M)  # the event loop's


def test_a_run_interrupted_by_a_crash_ends_internal_error_at_the_next_start(
    data_dir: Path, database_url: str
) -> None:
    key = cli_user(data_dir, database_url, "alice")
    serve = ServeProcess(data_dir, database_url)
    box = serve.post_in_background(SLOW, key)
    wait_until_running(serve.url, key)
    serve.stop(signal.SIGKILL)
    box["thread"].join(timeout=60)  # type: ignore[attr-defined]
    time.sleep(2.5)  # the orphaned sandbox finishes its sleep; nothing may be left running

    again = ServeProcess(data_dir, database_url)
    try:
        listed = httpx.get(again.url + "/api/runs", headers=auth(key), timeout=10).json()
        assert [item["status"] for item in listed] == ["internal_error"]
        detail = httpx.get(
            f"{again.url}/api/runs/{listed[0]['runId']}", headers=auth(key), timeout=10
        ).json()
        assert "stopped" in detail["message"]
        usage = httpx.get(again.url + "/api/usage", headers=auth(key), timeout=10).json()
        assert usage["runsToday"] == 0
        hello = httpx.post(
            again.url + RUN,
            json={"language": "python", "code": "print('up')"},
            headers=auth(key),
            timeout=60,
        ).json()
        assert hello["status"] == "ok" and hello["output"]["stdout"] == "up\n"
    finally:
        again.stop(signal.SIGTERM)


def test_a_multi_file_program_runs_in_the_real_sandbox(start_server: StartServer) -> None:
    server = start_server(backend="real")
    files = [
        {
            "name": "solve.py",
            "content": "from lib.calc import add\nprint(add(*map(int, input().split())))\n",
        },
        {"name": "lib/__init__.py", "content": ""},
        {"name": "lib/calc.py", "content": "def add(a, b):\n    return a + b\n"},
    ]
    response = server.client.post(
        RUN, json={"language": "python", "files": files, "stdin": "40 2\n"}
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok", body
    assert body["output"]["stdout"] == "42\n"
