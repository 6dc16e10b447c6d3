"""Every language's starter program (what the editor shows first) runs to ``ok`` and prints
something, through the editor's own endpoint on a real ``execbox serve`` (native sandbox).

Running 45 starters in a browser would be slow; the browser tests prove the editor loads each
starter (test_editor_page.py), and this proves each one works when Run is pressed.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import httpx
import pytest

import execbox.languages

from .conftest import Server

DATA = Path(execbox.languages.__file__).parent / "data"
LANGUAGES = sorted(p.stem for p in DATA.glob("*.toml"))


@pytest.fixture(scope="module")
def offered(server: Server) -> set[str]:
    listed = httpx.get(f"{server.base_url}/api/languages", timeout=30).json()
    return {lang["id"] for lang in listed}


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_starter_runs_and_prints(server: Server, offered: set[str], language: str) -> None:
    if language not in offered:
        message = f"{language} is not installed here"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    starter = tomllib.loads((DATA / f"{language}.toml").read_text())["starter"]
    assert starter.strip(), f"{language} has no starter program"
    response = httpx.post(
        f"{server.base_url}/api/editor/run",
        json={"language": language, "code": starter, "stdin": "", "args": []},
        timeout=180,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok", body
    assert "Hello" in body["output"]["stdout"], body
