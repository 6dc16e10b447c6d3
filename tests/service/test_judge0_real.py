"""Judge0 statuses and clients against the real sandbox: the official Python SDK
(``judge0`` on PyPI) unchanged, every status a program can cause, and exact bytes."""

from __future__ import annotations

import base64

import judge0
import pytest

from tests.service.conftest import Server, StartServer, create_user

J = "/judge0"

C_PROGRAMS = {
    7: "int main(void) { volatile int *p = 0; return *p; }",
    9: "#include <signal.h>\nint main(void) { raise(SIGFPE); return 0; }",
    10: "#include <stdlib.h>\nint main(void) { abort(); }",
    11: "int main(void) { return 3; }",
    12: "#include <stdlib.h>\n#include <string.h>\nint main(void) { for (;;) "
    "{ char *p = malloc(1 << 20); if (p) memset(p, 1, 1 << 20); } }",
    8: '#include <stdio.h>\nint main(void) { for (;;) fputs("xxxxxxxxxxxxxxxxxxxx", stdout); }',
    5: "int main(void) { for (;;) ; }",
    6: "int main(void) { return oops; }",
}


@pytest.fixture
def real(start_server: StartServer) -> Server:
    return start_server(backend="real")


def test_every_status_a_program_can_cause(real: Server) -> None:
    for status, source in C_PROGRAMS.items():
        response = real.client.post(
            f"{J}/submissions",
            params={
                "wait": "true",
                "fields": "status,exit_code,exit_signal,message,compile_output,stdout",
            },
            json={
                "source_code": source,
                "language_id": 50,
                "cpu_time_limit": 2,
                "memory_limit": 64 * 1024,
            },
        )
        body = response.json()
        assert response.status_code == 201, body
        assert body["status"]["id"] == status, (status, body)
        if status in (7, 9, 10):
            assert body["exit_signal"] in (11, 8, 6) and body["exit_code"] is None
        if status == 11:
            assert body["exit_code"] == 3
        if status == 6:
            assert "oops" in body["compile_output"]
        if status == 8:
            assert body["stdout"].startswith("xxxx")
        assert body["message"], body


WRITES_200_KB = r"""
#include <stdio.h>
#include <string.h>
int main(void) {
    static char block[1024];
    memset(block, 'x', sizeof block);
    puts("writing");
    fflush(stdout);
    FILE *f = fopen("big", "w");
    for (int i = 0; i < 200; i++) { fwrite(block, 1, sizeof block, f); fflush(f); }
    fclose(f);
    puts("done");
    return 0;
}
"""


@pytest.mark.parametrize(("max_file_size", "status"), [(64, 8), (1024, 3)])
def test_max_file_size_ends_a_program_writing_past_it(
    real: Server, max_file_size: int, status: int
) -> None:
    """Judge0's file-size limit (KB) is applied: a 200 KB file is SIGXFSZ past 64 KB (8),
    and the same program under 1024 KB finishes (3)."""
    response = real.client.post(
        f"{J}/submissions",
        params={"wait": "true", "fields": "status,stdout,exit_signal,max_file_size"},
        json={
            "source_code": WRITES_200_KB,
            "language_id": 50,
            "max_file_size": max_file_size,
            "expected_output": "writing\ndone\n",
        },
    )
    body = response.json()
    assert response.status_code == 201, body
    assert body["status"]["id"] == status, body
    assert body["max_file_size"] == max_file_size
    if status == 8:
        assert body["stdout"] == "writing\n" and body["exit_signal"] == 25  # SIGXFSZ
    else:
        assert body["stdout"] == "writing\ndone\n"


def test_invalid_utf8_output_is_exact_in_base64_and_an_error_without_it(real: Server) -> None:
    source = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfeok\\n')\n"
    token = real.client.post(
        f"{J}/submissions",
        params={"wait": "true"},
        json={"source_code": source, "language_id": 71},
    ).json()["token"]
    plain = real.client.get(f"{J}/submissions/{token}")
    assert plain.status_code == 400
    assert "base64_encoded=true" in plain.json()["error"]
    encoded = real.client.get(f"{J}/submissions/{token}", params={"base64_encoded": "true"})
    assert base64.b64decode(encoded.json()["stdout"]) == b"\xff\xfeok\n"
    batch = real.client.get(f"{J}/submissions/batch", params={"tokens": token})
    assert batch.status_code == 400 and "one or more" in batch.json()["error"]
    created = real.client.post(
        f"{J}/submissions",
        params={"wait": "true"},
        json={"source_code": source, "language_id": 71},
    )
    assert created.status_code == 201 and created.json()["token"]
    assert "base64_encoded=true" in created.json()["error"]


def test_the_python_sdk_runs_programs_unchanged(real: Server) -> None:
    key = create_user(real, "sdk")
    client = judge0.Client(f"{real.url}{J}", {"X-Auth-Token": key})
    result = judge0.run(
        client=client, source_code="print(input()[::-1])", stdin="olleh", language=judge0.PYTHON
    )
    assert result.status == judge0.Status.ACCEPTED, result
    assert result.stdout == "hello\n"
    assert result.time is not None and result.memory

    batch = judge0.run(
        client=client,
        submissions=[
            judge0.Submission(
                source_code='#include <stdio.h>\nint main(void) { puts("c"); }', language=judge0.C
            ),
            judge0.Submission(source_code="exit 4", language=judge0.BASH),
            judge0.Submission(
                source_code="print(input())",
                language=judge0.PYTHON,
                stdin="42",
                expected_output="42",
            ),
            judge0.Submission(source_code="print(1)", language=judge0.PYTHON, expected_output="2"),
        ],
    )
    assert [s.status for s in batch] == [
        judge0.Status.ACCEPTED,
        judge0.Status.RUNTIME_ERROR_NZEC,
        judge0.Status.ACCEPTED,
        judge0.Status.WRONG_ANSWER,
    ]
    assert batch[0].stdout == "c\n"
    usage = real.client.get("/api/usage", headers={"Authorization": f"Bearer {key}"}).json()
    assert usage["runsToday"] == 5


def test_the_sdk_with_a_bad_key_fails_to_authenticate(real: Server) -> None:
    with pytest.raises(RuntimeError, match="Authentication failed"):
        judge0.Client(f"{real.url}{J}", {"X-Auth-Token": "not-a-key"})
