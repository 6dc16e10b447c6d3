"""The sandbox self-test gates runs: a sandbox that does not hold gets none (SECURITY.md)."""

from __future__ import annotations

from tests.service.conftest import StartServer

RUN = "/api/editor/run"


def test_readyz_reports_the_self_test_of_the_real_sandbox(start_server: StartServer) -> None:
    server = start_server(backend="real")
    ready = server.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["sandbox"] == "ok"


def test_a_failing_self_test_means_no_runs(start_server: StartServer) -> None:
    # The fake backend confines nothing and so fails the self-test: runs must be refused.
    server = start_server(selftest=True)
    ready = server.client.get("/readyz")
    assert ready.status_code == 503
    assert "self-test" in ready.json()["error"]["message"]
    refused = server.client.post(RUN, json={"language": "python", "code": "print(1)"})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "sandbox_unavailable"
    assert "Retry-After" in refused.headers
    usage = server.client.get("/api/usage").json()
    assert usage["runsToday"] == 0
