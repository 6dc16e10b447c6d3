"""Run the service under uvicorn with a graceful drain on SIGTERM/SIGINT.

uvicorn stops accepting connections at the signal and waits for open
requests (each waiting on its run); the app's lifespan then waits for every
accepted run to be stored before the workers stop.
"""

from __future__ import annotations

import logging

import uvicorn
from starlette.types import ASGIApp

from execbox.settings import Settings


def uvicorn_config(
    app: ASGIApp, settings: Settings, *, host: str, port: int, log_level: str = "info"
) -> uvicorn.Config:
    """How every execbox server runs under uvicorn.

    ``proxy_headers=False``: uvicorn would otherwise believe ``X-Forwarded-For`` from
    127.0.0.1, letting anyone on the host pick a guest identity; the app believes only
    the proxies named in ``trusted_proxies`` (see :mod:`execbox.service.proxies`).
    """
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level=log_level,
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        server_header=False,
        proxy_headers=False,
        forwarded_allow_ips=[],
        lifespan="on",
    )


def serve(settings: Settings) -> None:
    from execbox.service.app import create_app  # the sandbox: not for `execbox api`

    _logging()
    if settings.log_timing:
        logging.getLogger("execbox.timing").setLevel(logging.DEBUG)
    app = create_app(settings)
    config = uvicorn_config(app, settings, host=settings.host, port=settings.port)
    logging.getLogger("execbox").info(
        "execbox: http://%s:%d/ (data in %s, database %s)",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.effective_database_url.split("@")[-1],
    )
    uvicorn.Server(config).run()


def serve_api(settings: Settings) -> None:
    """``execbox api``: the HTTP service without sandboxes (runs go to workers via Redis)."""
    from execbox.service.api_app import create_api_app

    _logging()
    app = create_api_app(settings)
    config = uvicorn_config(app, settings, host=settings.host, port=settings.port)
    logging.getLogger("execbox").info(
        "execbox api: http://%s:%d/ (database %s, queue %s on Redis)",
        settings.host,
        settings.port,
        settings.effective_database_url.split("@")[-1],
        settings.queue_name,
    )
    uvicorn.Server(config).run()


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("saq").setLevel(logging.WARNING)  # a line per job otherwise
