"""Mounts the editor page and its static assets on the service's FastAPI app."""

from __future__ import annotations

import hashlib
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"

# The page loads only its own files and talks only to its own origin. CodeMirror
# sets element styles from script, hence 'unsafe-inline' for styles (not scripts).
_CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
_PAGE_HEADERS = {
    "Content-Security-Policy": _CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _asset_version(static_dir: Path) -> str:
    """A short hash of the assets, so a browser never mixes an old script with a new page."""
    digest = hashlib.sha256()
    for path in sorted(static_dir.rglob("*")):
        if path.is_file() and path.name != "index.html":
            digest.update(path.relative_to(static_dir).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def _render_page(static_dir: Path) -> str:
    template = (static_dir / "index.html").read_text(encoding="utf-8")
    return template.replace("__ASSET_VERSION__", _asset_version(static_dir))


def mount_editor(app: FastAPI, static_dir: Path = STATIC_DIR) -> None:
    """Serve the editor at ``GET /`` and its assets under ``/static/``."""
    page = _render_page(static_dir)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def editor_page() -> HTMLResponse:
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    assets = StaticFiles(directory=static_dir)
    app.mount("/static", GZipMiddleware(assets, minimum_size=1024), name="static")
