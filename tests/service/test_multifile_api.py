"""Multi-file programs over HTTP: ``files`` instead of ``code``, checked before anything runs
or is recorded, and kept in the run log (fake sandbox: stdout = stdin)."""

from __future__ import annotations

import pytest

from execbox.program import MAX_FILES
from tests.service.conftest import Server
from tests.service.test_api import RUN, assert_error


def program(*files: tuple[str, str], **extra: object) -> dict[str, object]:
    return {
        "language": "python",
        "files": [{"name": name, "content": content} for name, content in files],
        "stdin": "echo\n",
        **extra,
    }


def assert_nothing_recorded(server: Server) -> None:
    assert server.client.get("/api/usage").json()["runsToday"] == 0
    assert server.client.get("/api/runs").json() == []


def test_files_run_and_the_run_log_keeps_them(server: Server) -> None:
    sent = [("app.py", "import util\n"), ("lib/util.py", "X = 1\n")]
    response = server.client.post(RUN, json=program(*sent))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok" and body["output"]["stdout"] == "echo\n"
    detail = server.client.get(f"/api/runs/{body['runId']}").json()
    assert detail["files"] == [{"name": n, "content": c} for n, c in sent]
    assert detail["code"] == "import util\n"


def test_a_single_code_run_has_no_files_in_the_log(server: Server) -> None:
    body = server.client.post(RUN, json={"language": "python", "code": "1"}).json()
    detail = server.client.get(f"/api/runs/{body['runId']}").json()
    assert detail["files"] is None and detail["code"] == "1"


@pytest.mark.parametrize(
    "name",
    [
        "../escape.py",
        "/etc/passwd",
        "lib/../../x.py",
        "a\x00b.py",
        "a\nb.py",
        "a\x1bb.py",
        "-fplugin=evil.c",
        "./x.py",
        "",
        "x/" * 9 + "y.py",
    ],
)
def test_file_name_attacks_are_a_422_naming_files_and_nothing_runs(
    server: Server, name: str
) -> None:
    response = server.client.post(RUN, json=program(("main.py", "1"), (name, "2")))
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "files" and "file name" in error["message"]
    assert_nothing_recorded(server)


@pytest.mark.parametrize(
    "names",
    [["main.py", "a.py", "a.py"], ["main.py", "lib", "lib/a.py"], ["app.py", "main.py"]],
)
def test_conflicting_names_are_a_422(server: Server, names: list[str]) -> None:
    response = server.client.post(RUN, json=program(*[(n, "") for n in names]))
    error = assert_error(response, 422, "invalid_input")
    assert error["field"] == "files"
    assert_nothing_recorded(server)


def test_at_most_64_files(server: Server) -> None:
    ok = server.client.post(RUN, json=program(*[(f"f{i}.py", "") for i in range(MAX_FILES)]))
    assert ok.status_code == 200, ok.text
    too_many = [(f"f{i}.py", "") for i in range(MAX_FILES + 1)]
    error = assert_error(server.client.post(RUN, json=program(*too_many)), 422, "invalid_input")
    assert error["field"] == "files" and "64" in error["message"]


def test_total_size_of_the_files_counts_against_the_plan(server: Server) -> None:
    limit = 102_400  # the guest plan's code size
    half = limit // 2
    fits = program(("main.py", "#" * half), ("b.py", "#" * (limit - half)))
    assert server.client.post(RUN, json=fits).status_code == 200
    over = program(("main.py", "#" * half), ("b.py", "#" * (limit - half)), ("c.py", "#"))
    error = assert_error(server.client.post(RUN, json=over), 413, "code_too_large")
    assert error["field"] == "files" and str(limit + 1) in error["message"]
    assert server.client.get("/api/usage").json()["runsToday"] == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "python"}, "code"),
        ({"language": "python", "code": "1", "files": [{"name": "a.py", "content": ""}]}, "files"),
        ({"language": "python", "files": []}, "files"),
        ({"language": "python", "files": [{"name": "a.py"}]}, "files"),
        ({"language": "python", "files": [{"name": 1, "content": ""}]}, "files"),
        ({"language": "python", "files": "main.py"}, "files"),
        ({"language": "python", "files": [{"name": "a.py", "content": "\x00"}]}, "files"),
    ],
)
def test_bad_files_fields_are_a_422_naming_the_field(
    server: Server, body: object, field: str
) -> None:
    response = server.client.post(RUN, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert_nothing_recorded(server)
