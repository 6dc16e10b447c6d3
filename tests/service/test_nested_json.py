"""A deeply nested JSON body is a 400 with the contract's error body on every route that
takes a body, never a 500; nesting the parser survives is judged like any other body."""

from __future__ import annotations

import json
import re

import httpx
import pytest

from tests.service.conftest import Server

RUN = "/api/editor/run"
DEPTH = 1000
ARRAYS = "[" * DEPTH + "]" * DEPTH  # 2 KB
OBJECTS = '{"a":' * DEPTH + "1" + "}" * DEPTH
IN_A_FIELD = '{"language": "python", "code": "print(1)", "args": ' + ARRAYS + "}"


def assert_invalid_json(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "invalid_json"
    assert "nested too deeply" in body["error"]["message"]


def body_routes(server: Server) -> list[tuple[str, str]]:
    """Every (method, path) of the API that takes a request body, from its OpenAPI document."""
    paths = server.client.get("/openapi.json").json()["paths"]
    return [
        (method.upper(), re.sub(r"\{[^}]+\}", "x", path))
        for path, operations in paths.items()
        for method in operations
        if method in ("post", "put", "patch")
    ]


@pytest.mark.parametrize("body", [ARRAYS, OBJECTS, IN_A_FIELD], ids=["arrays", "objects", "field"])
def test_a_body_nested_a_thousand_levels_is_a_400(server: Server, body: str) -> None:
    assert len(body) < 8200
    assert_invalid_json(server.client.post(RUN, content=body))
    assert_invalid_json(
        server.client.post(RUN, content=body, headers={"Content-Type": "application/json"})
    )
    assert server.client.get("/api/usage").json()["runsToday"] == 0  # not a run
    ok = server.client.post(RUN, json={"language": "python", "code": "x", "stdin": "after\n"})
    assert ok.status_code == 200 and ok.json()["output"]["stdout"] == "after\n"


def test_every_route_with_a_body_answers_deep_nesting_as_it_answers_bad_json(
    server: Server,
) -> None:
    """execbox's routes answer 400 ``invalid_json``; the compatible APIs (Judge0, Piston)
    answer as they answer any body that is not JSON, in their own format."""
    routes = body_routes(server)
    assert ("POST", RUN) in routes
    json_type = {"Content-Type": "application/json"}
    for method, path in routes:
        deep = server.client.request(method, path, content=ARRAYS, headers=json_type)
        broken = server.client.request(method, path, content=b"{", headers=json_type)
        assert 400 <= deep.status_code < 500, (method, path, deep.text)
        assert deep.status_code == broken.status_code, (method, path, deep.text)
        assert set(deep.json()) == set(broken.json()), (method, path, deep.text)
        if not path.startswith(("/judge0", "/piston")):
            assert deep.status_code == 400 and deep.json()["error"]["code"] == "invalid_json"


def test_nesting_the_parser_survives_is_a_422_naming_the_field(server: Server) -> None:
    nested = "[" * 200 + "]" * 200
    response = server.client.post(
        RUN, content='{"language": "python", "code": "x", "args": ' + nested + "}"
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == "args"
    extra = json.dumps({"language": "python", "code": "x", "stdin": "kept\n"})
    response = server.client.post(RUN, content=extra[:-1] + ', "unknown": ' + nested + "}")
    assert response.status_code == 200 and response.json()["output"]["stdout"] == "kept\n"
