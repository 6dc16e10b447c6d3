"""``mount_editor`` serves the page and every asset it needs from execbox itself: no CDN."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import httpx
from fastapi import FastAPI

from execbox.web import mount_editor
from execbox.web.editor import STATIC_DIR


def _get(*paths: str, headers: dict[str, str] | None = None) -> list[httpx.Response]:
    """GETs the paths in order from an app with only the editor mounted, in process."""
    app = FastAPI()
    mount_editor(app)

    async def fetch() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://editor") as client:
            return [await client.get(path, headers=headers) for path in paths]

    # In a thread of its own: Playwright's sync API may already run a loop on this one.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, fetch()).result()


def test_the_page_is_served_at_root_with_a_strict_content_security_policy() -> None:
    [answer] = _get("/")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    policy = answer.headers["content-security-policy"]
    assert "script-src 'self'" in policy
    assert "connect-src 'self'" in policy
    assert "__ASSET_VERSION__" not in answer.text


def test_every_asset_the_page_names_is_served_locally() -> None:
    [page] = _get("/")
    assets = re.findall(r'(?:src|href)="(/static/[^"?]+)', page.text)
    assert {"/static/editor.css", "/static/js/editor.js"} <= set(assets)
    for asset, answer in zip(assets, _get(*assets), strict=True):
        assert answer.status_code == 200, asset
    [script] = _get("/static/js/editor.js", headers={"Accept-Encoding": "gzip"})
    assert script.headers["content-encoding"] == "gzip"
    chunks = [f"/static/js/{c}" for c in re.findall(r'"\./(chunk-[\w-]+\.js)"', script.text)]
    assert chunks
    for chunk, answer in zip(chunks, _get(*chunks), strict=True):
        assert answer.status_code == 200, chunk


def test_no_asset_loads_anything_from_another_host() -> None:
    remote = re.compile(
        r"""(?:src|href)\s*=\s*["']?(?:https?:)?//|@import\s+url\(\s*["']?https?:|import\(["']https?:"""
    )
    for path in STATIC_DIR.rglob("*"):
        if path.suffix in {".html", ".css", ".js"}:
            assert not remote.search(path.read_text(encoding="utf-8")), path
