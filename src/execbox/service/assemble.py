"""The ASGI app around a :class:`ServiceContext`: routes, middleware, error bodies and the
editor, the same for ``execbox serve`` (:mod:`execbox.service.app`) and ``execbox api``
(:mod:`execbox.service.api_app`).  Nothing here loads sandbox code."""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from execbox import __version__
from execbox.service.bodylimit import BodyLimitMiddleware
from execbox.service.context import ServiceContext
from execbox.service.errors import install_error_handlers
from execbox.service.guests import GuestIdMiddleware
from execbox.service.judge0 import router as judge0_router
from execbox.service.piston import router as piston_router
from execbox.service.piston_connect import router as piston_connect_router
from execbox.service.proxies import ForwardedMiddleware
from execbox.service.routes import router
from execbox.service.ws_run import router as ws_router

log = logging.getLogger(__name__)

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def assemble(ctx: ServiceContext, lifespan: Lifespan) -> FastAPI:
    """The ASGI app around ``ctx``: every route, middleware and the editor (shared by
    ``execbox serve`` and ``execbox api``)."""
    settings = ctx.settings
    app = FastAPI(
        title="execbox",
        version=__version__,
        description="Runs untrusted code in fresh, isolated, limited sandboxes.",
        lifespan=lifespan,
    )
    app.state.execbox = ctx
    install_error_handlers(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(GuestIdMiddleware)
    app.add_middleware(ForwardedMiddleware, trusted=settings.trusted_proxies)
    app.include_router(router)
    app.include_router(judge0_router)
    app.include_router(piston_router)
    app.include_router(ws_router)
    app.include_router(piston_connect_router)
    _mount_editor(app)
    return app


def _mount_editor(app: FastAPI) -> None:
    try:
        from execbox.web import mount_editor
    except ImportError:  # the editor is optional in a stripped-down install
        log.warning("the web editor is not installed; GET / serves a placeholder")

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def placeholder() -> str:
            return (
                "<!doctype html><title>execbox</title><p>execbox API: see <a href=/docs>/docs</a>."
            )

        return
    mount_editor(app)
