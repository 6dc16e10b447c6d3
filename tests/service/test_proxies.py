"""A guest's identity is the address that connected, unless a proxy the operator named says
otherwise: forwarding headers from anyone else change nothing a user could notice."""

from __future__ import annotations

import ipaddress
import signal
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from execbox.service.proxies import TrustedProxies, parse_address
from execbox.settings import Settings
from tests.service.conftest import StartServer, set_plan
from tests.service.test_end_to_end import ServeProcess

RUN = "/api/editor/run"
HELLO = {"language": "python", "code": "print('Hello')", "stdin": "Hello\n"}
SPOOFS = {
    "X-Forwarded-For": "203.0.113.9",
    "X-Real-IP": "203.0.113.9",
    "Forwarded": "for=203.0.113.9;proto=https",
    "X-Forwarded-Proto": "https",
}


def usage(client: httpx.Client, **headers: str) -> int:
    response = client.get("/api/usage", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["runsToday"])


def history(client: httpx.Client, **headers: str) -> list[str]:
    response = client.get("/api/runs", headers=headers)
    assert response.status_code == 200, response.text
    return [item["runId"] for item in response.json()]


def test_forwarding_headers_from_loopback_give_a_guest_no_new_identity(
    start_server: StartServer,
) -> None:
    server = start_server()
    set_plan(server, "guest", daily_runs=1)
    first = server.client.post(RUN, json=HELLO)
    assert first.status_code == 200 and first.json()["status"] == "ok"
    assert first.json()["output"]["stdout"] == "Hello\n"  # the run happened

    assert usage(server.client, **SPOOFS) == 1  # the same guest: quota unchanged
    assert history(server.client, **SPOOFS) == [first.json()["runId"]]
    again = server.client.post(RUN, json=HELLO, headers=SPOOFS)
    assert again.status_code == 429, again.text  # no fresh quota under a made-up address
    assert again.json()["error"]["code"] == "quota_exceeded"
    assert usage(server.client) == 1


def test_a_named_proxy_forwards_the_clients_address(start_server: StartServer) -> None:
    server = start_server(trusted_proxies=["127.0.0.1"])
    mine = server.client.post(RUN, json=HELLO, headers={"X-Forwarded-For": "203.0.113.9"})
    assert mine.status_code == 200 and mine.json()["usage"]["runsToday"] == 1

    assert usage(server.client, **{"X-Forwarded-For": "203.0.113.9"}) == 1
    assert history(server.client, **{"X-Forwarded-For": "203.0.113.9"}) == [mine.json()["runId"]]
    assert usage(server.client, **{"X-Forwarded-For": "198.51.100.7"}) == 0
    assert history(server.client, **{"X-Forwarded-For": "198.51.100.7"}) == []
    assert usage(server.client) == 0  # the proxy's own address is someone else


def test_a_proxy_chain_is_walked_from_the_right_to_the_first_untrusted_hop(
    start_server: StartServer,
) -> None:
    server = start_server(trusted_proxies=["127.0.0.1", "10.0.0.0/8"])
    # the client sent "198.51.100.7" itself; 203.0.113.9 connected to 10.1.2.3, which
    # connected to us over loopback
    chain = {"X-Forwarded-For": "198.51.100.7, 203.0.113.9, 10.1.2.3"}
    run = server.client.post(RUN, json=HELLO, headers=chain)
    assert run.status_code == 200 and run.json()["status"] == "ok"
    assert usage(server.client, **{"X-Forwarded-For": "203.0.113.9"}) == 1
    assert usage(server.client, **{"X-Forwarded-For": "198.51.100.7"}) == 0
    # two headers are one list; the port a proxy may add is not part of the address
    split = [("X-Forwarded-For", "198.51.100.7"), ("X-Forwarded-For", "203.0.113.9:40112")]
    assert server.client.get("/api/usage", headers=split).json()["runsToday"] == 1
    # garbage a trusted proxy passed on ends the walk at that proxy: here, loopback
    assert usage(server.client, **{"X-Forwarded-For": "not-an-ip"}) == usage(server.client) == 0


def test_the_chain_logic() -> None:
    trusted = TrustedProxies(["127.0.0.1", "10.0.0.0/8", "2001:db8::/32"])
    peer = parse_address("127.0.0.1")
    assert trusted.client(peer, []) == peer
    assert str(trusted.client(peer, ["1.2.3.4", "5.6.7.8"])) == "5.6.7.8"
    assert str(trusted.client(peer, ["1.2.3.4", "10.9.9.9"])) == "1.2.3.4"
    assert str(trusted.client(peer, ["[2001:db9::1]:443", "2001:db8::7"])) == "2001:db9::1"
    assert str(trusted.client(peer, ["1.2.3.4", "x" * 5000, "10.0.0.1"])) == "10.0.0.1"
    outsider = parse_address("192.0.2.1")
    assert trusted.client(outsider, ["1.2.3.4"]) == outsider
    assert parse_address("::ffff:10.0.0.1") == ipaddress.ip_address("10.0.0.1")
    assert parse_address("1.2.3.4.5") is None and parse_address("") is None
    assert str(TrustedProxies([]).client(peer, ["1.2.3.4"])) == "127.0.0.1"


def test_the_setting_takes_a_comma_list_and_refuses_a_bad_entry(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("EXECBOX_TRUSTED_PROXIES", "10.0.0.7, 192.168.0.0/16")
    assert Settings().trusted_proxies == ["10.0.0.7", "192.168.0.0/16"]
    monkeypatch.setenv("EXECBOX_TRUSTED_PROXIES", '["::1"]')
    assert Settings().trusted_proxies == ["::1"]
    monkeypatch.delenv("EXECBOX_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == []
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(trusted_proxies=["10.0.0.7", "proxy.example"])


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_execbox_serve_believes_forwarding_headers_only_from_named_proxies(
    data_dir: Path, database_url: str, trusted: str
) -> None:
    serve = ServeProcess(data_dir, database_url, trusted_proxies=trusted)
    try:
        with httpx.Client(base_url=serve.url, timeout=120) as client:
            run = client.post(RUN, json={"language": "bash", "code": "echo hi"}, headers=SPOOFS)
            assert run.status_code == 200 and run.json()["status"] == "ok", run.text
            assert run.json()["output"]["stdout"] == "hi\n"
            if trusted:  # the proxy's word is taken: that run was 203.0.113.9's
                assert usage(client, **SPOOFS) == 1 and usage(client) == 0
                assert history(client) == []
            else:  # uvicorn's default trust of 127.0.0.1 is off: one guest, whatever it says
                assert usage(client, **SPOOFS) == usage(client) == 1
                assert history(client) == [run.json()["runId"]]
    finally:
        serve.stop(signal.SIGTERM)
