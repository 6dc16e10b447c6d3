"""The run log as a user and an operator see it: compact output, the contract's JSON back."""

from __future__ import annotations

from execbox.store import Database
from tests.service.conftest import StartServer
from tests.store.test_runs import MIB, stored_bytes

RUN = "/api/editor/run"

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
