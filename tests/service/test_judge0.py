"""The Judge0 CE 1.13.1 API at /judge0 over raw HTTP (fake sandbox: stdout = stdin).

Statuses that need a real program (signals, output caps) are in test_judge0_real.py.
"""

from __future__ import annotations

import base64
import io
import re
import stat
import time
import uuid
import zipfile

import httpx
import pytest

from tests.service.conftest import Server, StartServer, create_user, set_plan

J = "/judge0"
TS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def b64(data: str | bytes) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def token_header(key: str) -> dict[str, str]:
    return {"X-Auth-Token": key}


def submit(
    server: Server, body: dict[str, object], *, headers: dict[str, str] | None = None, **params: str
) -> httpx.Response:
    return server.client.post(f"{J}/submissions", json=body, params=params, headers=headers)


def hello(**extra: object) -> dict[str, object]:
    return {"source_code": "print(input())", "language_id": 71, "stdin": "hi\n", **extra}


def usage(server: Server, headers: dict[str, str] | None = None) -> int:
    return int(server.client.get("/api/usage", headers=headers).json()["runsToday"])


def wait_final(
    server: Server, token: str, headers: dict[str, str] | None = None
) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while True:
        body = server.client.get(
            f"{J}/submissions/{token}", params={"fields": "*"}, headers=headers
        ).json()
        if body["status"]["id"] not in (1, 2) or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.05)


# --- information routes -----------------------------------------------------------------


def test_about_statuses_languages_and_config_need_no_key(server: Server) -> None:
    about = server.client.get(f"{J}/about").json()
    assert about["version"] == "1.13.1"
    statuses = server.client.get(f"{J}/statuses").json()
    assert [s["id"] for s in statuses] == list(range(1, 15))
    assert statuses[2] == {"id": 3, "description": "Accepted"}
    languages = server.client.get(f"{J}/languages").json()
    ids = {lang["id"] for lang in languages}
    # C 48, 49, 50 and 75 all run execbox's c, named after what really runs it
    assert {48, 49, 50, 75, 52, 53, 54, 76, 62, 63, 71, 46} <= ids
    names = {lang["id"]: lang["name"] for lang in languages}
    assert names[48] == names[75] and names[48].startswith("C (GCC ")
    assert names[71].startswith("Python (3.")
    assert 70 not in ids and 43 not in ids  # Python 2 and Plain Text do not run here
    one = server.client.get(f"{J}/languages/62").json()
    assert one["source_file"] == "Main.java" and one["is_archived"] is False
    assert "javac" in one["compile_cmd"]
    assert server.client.get(f"{J}/languages/70").status_code == 404
    config = server.client.get(f"{J}/config_info").json()
    for key in (
        "cpu_time_limit",
        "max_cpu_time_limit",
        "memory_limit",
        "max_memory_limit",
        "enable_wait_result",
        "max_submission_batch_size",
        "enable_callbacks",
        "max_extract_size",
        "allow_enable_network",
        "enable_network",
        "max_number_of_runs",
        "callbacks_max_tries",
        "submission_cache_duration",
    ):
        assert key in config, key
    assert config["max_cpu_time_limit"] == 30.0  # no key: the server's own maxima
    assert config["memory_limit"] == 128 * 1024 and config["enable_callbacks"] is False


def test_config_info_shows_the_callers_plan_limits(server: Server) -> None:
    key = create_user(server, "pro-user", plan="pro")
    pro = server.client.get(f"{J}/config_info", headers=token_header(key)).json()
    guest = server.client.get(f"{J}/config_info").json()
    assert pro["max_cpu_time_limit"] >= guest["max_cpu_time_limit"]
    bad = server.client.get(f"{J}/config_info", headers=token_header("nope"))
    assert bad.status_code == 401 and "error" in bad.json()


def test_system_info_and_workers(server: Server) -> None:
    info = server.client.get(f"{J}/system_info").json()
    assert info["Architecture"] and int(info["CPU(s)"]) >= 1
    workers = server.client.get(f"{J}/workers").json()
    assert workers[0]["queue"] == "1.13.1" and workers[0]["available"] == 2


# --- submissions ----------------------------------------------------------------------------


def test_wait_true_answers_the_finished_submission_with_default_fields(server: Server) -> None:
    response = submit(server, hello(), wait="true")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {
        "token",
        "time",
        "memory",
        "stdout",
        "stderr",
        "compile_output",
        "message",
        "status",
    }
    assert body["status"] == {"id": 3, "description": "Accepted"}
    assert body["stdout"] == "hi\n" and body["stderr"] is None and body["compile_output"] is None
    assert uuid.UUID(body["token"]).version == 4
    assert re.match(r"^\d+\.\d{3}$", body["time"]) and isinstance(body["memory"], int)
    assert body["memory"] == 1024  # the fake reports 1 MiB: Judge0 says KB
    assert usage(server) == 1


def test_async_submission_answers_a_token_then_the_result(start_server: StartServer) -> None:
    from tests.service.conftest import EchoBackend

    server = start_server(backend=EchoBackend(delay_s=1.0))
    response = submit(server, hello())
    assert response.status_code == 201 and set(response.json()) == {"token"}
    token = response.json()["token"]
    first = server.client.get(f"{J}/submissions/{token}").json()
    assert first["status"] == {"id": 1, "description": "In Queue"}
    assert first["stdout"] is None and first["time"] is None
    final = wait_final(server, token)
    assert final["status"] == {"id": 3, "description": "Accepted"}
    assert final["stdout"] == "hi\n"
    assert TS.match(str(final["created_at"])) and TS.match(str(final["finished_at"]))
    assert final["language_id"] == 71 and final["source_code"] == "print(input())"
    assert final["wall_time"] is not None and final["exit_code"] == 0


def test_fields_filter_and_star_and_invalid_fields(server: Server) -> None:
    token = submit(server, hello(), wait="true").json()["token"]
    some = server.client.get(f"{J}/submissions/{token}", params={"fields": "stdout,status_id"})
    assert some.json() == {"stdout": "hi\n", "status_id": 3}
    star = server.client.get(f"{J}/submissions/{token}", params={"fields": "*"}).json()
    assert {
        "source_code",
        "stdin",
        "expected_output",
        "cpu_time_limit",
        "exit_signal",
        "callback_url",
        "additional_files",
        "wall_time",
        "language",
    } <= set(star)
    bad = server.client.get(f"{J}/submissions/{token}", params={"fields": "stdout,bogus,x"})
    assert bad.status_code == 400 and bad.json() == {"error": "invalid fields: [bogus, x]"}
    created = submit(server, hello(), wait="true", fields="token,stdout")
    assert set(created.json()) == {"token", "stdout"}


def test_base64_round_trips_exact_bytes(server: Server) -> None:
    stdin = "é\x01\n"
    response = submit(
        server,
        {"source_code": b64("print(input())"), "language_id": 71, "stdin": b64(stdin)},
        base64_encoded="true",
        wait="true",
        fields="*",
    )
    body = response.json()
    assert response.status_code == 201, body
    assert base64.b64decode(body["stdout"]) == stdin.encode()
    assert base64.b64decode(body["source_code"]) == b"print(input())"
    assert base64.b64decode(body["stdin"]) == stdin.encode()


@pytest.mark.parametrize(
    ("expected", "status"),
    [("hi", 3), ("hi  \n\n", 3), ("\n  hi\n", 3), ("h i\n", 4), ("ho\n", 4), ("", 4)],
)
def test_expected_output_is_compared_as_judge0_does(
    server: Server, expected: str, status: int
) -> None:
    body = submit(server, hello(expected_output=expected), wait="true").json()
    assert body["status"]["id"] == status, body


@pytest.mark.parametrize(
    ("source", "status", "description"),
    [
        ("FAKE:TIMEOUT", 5, "Time Limit Exceeded"),
        ("FAKE:FAIL", 11, "Runtime Error (NZEC)"),
        ("FAKE:OOM", 12, "Runtime Error (Other)"),
    ],
)
def test_statuses_from_the_run(server: Server, source: str, status: int, description: str) -> None:
    body = submit(server, hello(source_code=source), wait="true", fields="*").json()
    assert body["status"] == {"id": status, "description": description}
    assert body["message"]


def test_compile_error_is_6_with_the_compile_output(server: Server) -> None:
    body = submit(
        server, {"source_code": "FAKE:FAIL", "language_id": 50}, wait="true", fields="*"
    ).json()
    assert body["status"] == {"id": 6, "description": "Compilation Error"}
    assert body["time"] is None and body["memory"] is None


def test_internal_error_is_13(start_server: StartServer) -> None:
    from execbox.errors import SandboxError
    from execbox.sandbox.base import StepOutcome, StepSpec, Workspace
    from tests.service.conftest import EchoBackend

    class Broken(EchoBackend):
        def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
            raise SandboxError("bwrap vanished")

    server = start_server(backend=Broken())
    body = submit(server, hello(), wait="true", fields="status,message").json()
    assert body["status"] == {"id": 13, "description": "Internal Error"}
    assert "bwrap vanished" in body["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language_id": 71}, "source_code"),
        ({"source_code": "1"}, "language_id"),
        ({"source_code": "1", "language_id": 70}, "language_id"),
        ({"source_code": "1", "language_id": 9999}, "language_id"),
        (hello(cpu_time_limit=0), "cpu_time_limit"),
        (hello(cpu_time_limit=1000), "cpu_time_limit"),
        (hello(wall_time_limit="x"), "wall_time_limit"),
        (hello(memory_limit=10**9), "memory_limit"),
        (hello(memory_limit=100), "memory_limit"),
        (hello(max_file_size=0), "max_file_size"),
        (hello(max_file_size=10**9), "max_file_size"),
        (hello(max_file_size="big"), "max_file_size"),
        (hello(number_of_runs=3), "number_of_runs"),
        (hello(enable_network=True), "enable_network"),
        (hello(compiler_options="-O3"), "compiler_options"),
        (
            hello(enable_per_process_and_thread_time_limit=True),
            "enable_per_process_and_thread_time_limit",
        ),
        (hello(command_line_arguments="'unclosed"), "command_line_arguments"),
        (hello(callback_url="http://127.0.0.1:9/x"), "callback_url"),
        (hello(additional_files="not base64 zip!"), "additional_files"),
    ],
)
def test_invalid_submissions_are_judge0s_422(
    server: Server, body: dict[str, object], field: str
) -> None:
    response = submit(server, body)
    assert response.status_code == 422, response.text
    errors = response.json()
    assert field in errors and isinstance(errors[field], list) and errors[field][0]
    assert usage(server) == 0


def test_limits_are_capped_by_the_callers_plan(server: Server) -> None:
    key = create_user(server, "capped")
    set_plan(server, "free", time_limit_s=2.0, memory_limit_mb=64)
    over = submit(server, hello(cpu_time_limit=3), headers=token_header(key))
    assert over.status_code == 422 and "2" in over.json()["cpu_time_limit"][0]
    fine = submit(
        server,
        hello(cpu_time_limit=2, memory_limit=64 * 1024),
        wait="true",
        headers=token_header(key),
        fields="status,cpu_time_limit,memory_limit",
    )
    assert fine.status_code == 201
    assert fine.json() == {
        "status": {"id": 3, "description": "Accepted"},
        "cpu_time_limit": 2,
        "memory_limit": 64 * 1024,
    }


def test_command_line_arguments_are_split_like_a_shell_would(start_server: StartServer) -> None:
    from tests.service.conftest import EchoBackend

    backend = EchoBackend()
    server = start_server(backend=backend)
    response = submit(server, hello(command_line_arguments="a 'b c' d"), wait="true")
    assert response.status_code == 201
    run_steps = [step for step in backend.steps if step.kind == "run"]
    assert run_steps[-1].argv[-3:] == ["a", "b c", "d"]


def test_redirect_stderr_to_stdout(server: Server) -> None:
    body = submit(server, hello(redirect_stderr_to_stdout=True), wait="true").json()
    assert body["stdout"] == "hi\n" and body["stderr"] is None


# --- tokens and who reads them ----------------------------------------------------------------


def test_a_keyed_submission_is_read_with_its_key_only(server: Server) -> None:
    alice = create_user(server, "alice")
    bob = create_user(server, "bob")
    token = submit(server, hello(), wait="true", headers=token_header(alice)).json()["token"]
    mine = server.client.get(f"{J}/submissions/{token}", headers=token_header(alice))
    assert mine.status_code == 200 and mine.json()["stdout"] == "hi\n"
    assert (
        server.client.get(f"{J}/submissions/{token}", headers=token_header(bob)).status_code == 404
    )
    assert server.client.get(f"{J}/submissions/{token}").status_code == 404
    assert (
        server.client.get(f"{J}/submissions/{token}", headers=token_header("wrong")).status_code
        == 401
    )


def test_a_guest_submission_is_read_with_its_token_alone(server: Server) -> None:
    token = submit(server, hello(), wait="true").json()["token"]
    someone = create_user(server, "someone")
    read = server.client.get(f"{J}/submissions/{token}", headers=token_header(someone))
    assert read.status_code == 200 and read.json()["stdout"] == "hi\n"
    assert server.client.get(f"{J}/submissions/{uuid.uuid4()}").status_code == 404
    assert server.client.get(f"{J}/submissions/not-a-token").status_code == 404


def test_a_run_of_the_native_api_is_not_a_judge0_submission(server: Server) -> None:
    run_id = server.client.post("/api/editor/run", json={"language": "python", "code": "1"}).json()[
        "runId"
    ]
    token = str(uuid.UUID(hex=run_id))
    assert server.client.get(f"{J}/submissions/{token}").status_code == 404


def test_the_run_log_records_the_judge0_api(server: Server) -> None:
    token = submit(server, hello(), wait="true").json()["token"]
    detail = server.client.get(f"/api/runs/{uuid.UUID(token).hex}").json()
    assert detail["code"] == "print(input())" and detail["status"] == "ok"
    from execbox.store import Database, runs

    db = Database(server.settings.effective_database_url)  # type: ignore[attr-defined]
    try:
        with db.transaction() as session:
            record = runs.by_id(session, uuid.UUID(token).hex)
        assert record is not None and record.api == "judge0"
    finally:
        db.close()


# --- batches ---------------------------------------------------------------------------------


def test_batch_create_and_show(server: Server) -> None:
    items = [hello(stdin=f"{n}\n") for n in range(3)] + [{"language_id": 71}]
    response = server.client.post(f"{J}/submissions/batch", json={"submissions": items})
    assert response.status_code == 201, response.text
    answers = response.json()
    assert "source_code" in answers[3]
    tokens = [a["token"] for a in answers[:3]]
    for token in tokens:
        wait_final(server, token)
    shown = server.client.get(
        f"{J}/submissions/batch",
        params={"tokens": ",".join([*tokens, str(uuid.uuid4())]), "fields": "stdout,status"},
    ).json()["submissions"]
    assert [s["stdout"] for s in shown[:3]] == ["0\n", "1\n", "2\n"]
    assert shown[3] is None
    assert usage(server) == 3


def test_batch_limits(server: Server) -> None:
    too_many = server.client.post(f"{J}/submissions/batch", json={"submissions": [hello()] * 21})
    assert too_many.status_code == 400 and "20" in too_many.json()["error"]
    empty = server.client.post(f"{J}/submissions/batch", json={"submissions": []})
    assert empty.status_code == 400
    tokens = ",".join(str(uuid.uuid4()) for _ in range(21))
    shown = server.client.get(f"{J}/submissions/batch", params={"tokens": tokens})
    assert shown.status_code == 400 and "20" in shown.json()["error"]
    assert server.client.get(f"{J}/submissions/batch").status_code == 400
    all_bad = server.client.post(f"{J}/submissions/batch", json={"submissions": [{"x": 1}]})
    assert all_bad.status_code == 422
    assert usage(server) == 0


def test_quota_counts_every_submission_and_refuses_past_it(server: Server) -> None:
    key = create_user(server, "counted")
    set_plan(server, "free", daily_runs=3)
    headers = token_header(key)
    answers = server.client.post(
        f"{J}/submissions/batch", json={"submissions": [hello()] * 2}, headers=headers
    ).json()
    assert all("token" in a for a in answers)
    assert submit(server, hello(), wait="true", headers=headers).status_code == 201
    refused = submit(server, hello(), headers=headers)
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert "error" in refused.json()
    assert usage(server, {"Authorization": f"Bearer {key}"}) == 3


# --- additional_files ----------------------------------------------------------------------


def zipped(*entries: tuple[str, bytes], symlink: str | None = None) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries:
            archive.writestr(name, data)
        if symlink is not None:
            info = zipfile.ZipInfo("link.py")
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            archive.writestr(info, symlink)
    return base64.b64encode(buffer.getvalue()).decode()


def test_additional_files_are_placed_beside_the_program(server: Server) -> None:
    files = zipped(("helper.py", b"X = 1\n"), ("data/in.txt", b"42\n"))
    response = submit(server, hello(additional_files=files), wait="true")
    assert response.status_code == 201, response.text
    token = response.json()["token"]
    detail = server.client.get(f"/api/runs/{uuid.UUID(token).hex}").json()
    assert [f["name"] for f in detail["files"]] == ["main.py", "helper.py", "data/in.txt"]


@pytest.mark.parametrize(
    "archive",
    [
        zipped(("../evil.py", b"x")),
        zipped(("/etc/evil.py", b"x")),
        zipped(("a/../../evil.py", b"x")),
        zipped(("ok.py", b"x"), symlink="/etc/passwd"),
        zipped(("main.py", b"x")),  # takes the entry file's name
        zipped(*[(f"f{n}.py", b"") for n in range(70)]),
    ],
)
def test_additional_files_attacks_are_refused(server: Server, archive: str) -> None:
    response = submit(server, hello(additional_files=archive))
    assert response.status_code == 422, response.text
    assert "additional_files" in response.json()
    assert usage(server) == 0


def test_a_zip_bomb_is_refused_without_unpacking_it(server: Server) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.txt", b"\0" * (50 << 20))  # 50 MiB of zeros, ~50 KB zipped
    bomb = base64.b64encode(buffer.getvalue()).decode()
    assert len(bomb) < 200_000
    response = submit(server, hello(additional_files=bomb))
    assert response.status_code == 413, response.text
    assert "additional_files" in response.json()["error"]
    assert usage(server) == 0


def test_multi_file_program_89_needs_a_run_script(server: Server) -> None:
    refused = submit(server, {"language_id": 89, "additional_files": zipped(("x.py", b""))})
    assert refused.status_code == 422 and "additional_files" in refused.json()
    files = zipped(("run", b"python3 main2.py\n"), ("main2.py", b"print(1)\n"))
    accepted = submit(server, {"language_id": 89, "additional_files": files}, wait="true")
    assert accepted.status_code == 201, accepted.text


# --- callbacks -------------------------------------------------------------------------------


class Receiver:
    """A loopback HTTP server that records the callbacks it gets."""

    def __init__(self) -> None:
        import http.server
        import json
        import threading

        calls: list[tuple[str, str, dict[str, object]]] = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                length = int(self.headers["Content-Length"])
                body = json.loads(self.rfile.read(length))
                calls.append((self.command, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.calls = calls
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/judge0-done"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_callback_is_a_put_to_an_allowed_loopback_receiver(start_server: StartServer) -> None:
    receiver = Receiver()
    try:
        server = start_server(judge0_callback_hosts=["127.0.0.1"])
        assert server.client.get(f"{J}/config_info").json()["enable_callbacks"] is True
        token = submit(server, hello(callback_url=receiver.url)).json()["token"]
        deadline = time.monotonic() + 30
        while not receiver.calls and time.monotonic() < deadline:
            time.sleep(0.05)
        assert receiver.calls, "no callback arrived"
        method, content_type, body = receiver.calls[0]
        assert method == "PUT" and content_type.startswith("application/json")
        assert body["token"] == token
        assert body["status"] == {"id": 3, "description": "Accepted"}
        assert base64.b64decode(str(body["stdout"])) == b"hi\n"  # Judge0 sends base64
    finally:
        receiver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:9/x",
        "http://10.0.0.1/x",
        "file:///etc/passwd",
        "http://127.0.0.1.evil/x",
        "ftp://127.0.0.1/x",
    ],
)
def test_callbacks_to_other_hosts_are_refused(start_server: StartServer, url: str) -> None:
    server = start_server(judge0_callback_hosts=["127.0.0.1"])
    response = submit(server, hello(callback_url=url))
    assert response.status_code == 422 and "callback_url" in response.json()
    assert usage(server) == 0
