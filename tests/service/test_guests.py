"""Guests: a private history per browser, one quota per address (real HTTP, fake sandbox)."""

from __future__ import annotations

import httpx

from tests.service.conftest import Server, auth, create_user, set_plan
from tests.service.test_api import RUN, assert_error, hello


def _browser(server: Server) -> httpx.Client:
    """Another browser on this machine: the same address (127.0.0.1), its own cookies."""
    return httpx.Client(base_url=server.url, timeout=120)


def test_two_guests_behind_one_address_see_only_their_own_runs(server: Server) -> None:
    with _browser(server) as first, _browser(server) as second:
        mine = first.post(RUN, json=hello(stdin="first's secret"))
        assert mine.status_code == 200 and mine.json()["output"]["stdout"] == "first's secret"
        theirs = second.post(RUN, json=hello(stdin="second's secret")).json()
        assert theirs["status"] == "ok"

        listed = first.get("/api/runs").json()
        assert [item["runId"] for item in listed] == [mine.json()["runId"]]
        assert first.get(f"/api/runs/{mine.json()['runId']}").json()["stdin"] == "first's secret"
        assert [item["runId"] for item in second.get("/api/runs").json()] == [theirs["runId"]]
        # neither can open the other's run, code and stdin
        assert_error(first.get(f"/api/runs/{theirs['runId']}"), 404, "not_found")
        assert_error(second.get(f"/api/runs/{mine.json()['runId']}"), 404, "not_found")
        # a client without the cookie is a guest with no history
        with _browser(server) as stranger:
            assert stranger.get("/api/runs").json() == []
            assert_error(stranger.get(f"/api/runs/{theirs['runId']}"), 404, "not_found")


def test_the_guest_id_is_an_http_only_cookie_set_by_the_server(server: Server) -> None:
    with _browser(server) as browser:
        first = browser.get("/api/usage")
        cookie = first.headers["set-cookie"]
        assert cookie.startswith("execbox_guest=")
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
        assert len(browser.cookies["execbox_guest"]) >= 22
        # once set it is kept, not renewed on every response
        assert "set-cookie" not in browser.get("/api/usage").headers
    forged = httpx.get(f"{server.url}/api/usage", cookies={"execbox_guest": "../x"})
    assert forged.headers["set-cookie"].startswith("execbox_guest=")  # replaced, not used


def test_guests_share_their_addresss_quota_whatever_their_cookies(server: Server) -> None:
    set_plan(server, "guest", daily_runs=2)
    with _browser(server) as first, _browser(server) as second:
        assert first.post(RUN, json=hello()).json()["usage"]["runsToday"] == 1
        assert second.post(RUN, json=hello()).json()["usage"]["runsToday"] == 2
        refused = second.post(RUN, json=hello())
        assert_error(refused, 429, "quota_exceeded")
        assert int(refused.headers["Retry-After"]) > 0
    # a fresh cookie (or none) buys no fresh quota
    with _browser(server) as fresh:
        assert_error(fresh.post(RUN, json=hello()), 429, "quota_exceeded")
        assert fresh.get("/api/usage").json()["runsToday"] == 2
    assert_error(httpx.post(f"{server.url}{RUN}", json=hello()), 429, "quota_exceeded")


def test_a_plan_of_zero_daily_runs_allows_no_runs_403_not_429(server: Server) -> None:
    set_plan(server, "guest", daily_runs=0)
    refused = server.client.post(RUN, json=hello())
    error = assert_error(refused, 403, "forbidden")
    assert "allows no runs" in error["message"]
    assert "retry-after" not in refused.headers
    # the server runs programs otherwise: a user on the free plan runs
    key = create_user(server, "alice")
    done = server.client.post(RUN, json=hello(), headers=auth(key))
    assert done.status_code == 200 and done.json()["output"]["stdout"] == "Hello\n"
