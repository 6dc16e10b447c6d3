"""Run the service under uvicorn with a graceful drain on SIGTERM/SIGINT.

uvicorn stops accepting connections at the signal and waits for open
requests (each waiting on its run); the app's lifespan then waits for every
accepted run to be stored before the workers stop.
"""

from __future__ import annotations

import logging

import uvicorn

from execbox.service.app import create_app
from execbox.settings import Settings


def serve(settings: Settings) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        timeout_graceful_shutdown=int(settings.drain_timeout_s),
        server_header=False,
    )
    logging.getLogger("execbox").info(
        "execbox: http://%s:%d/ (data in %s, database %s)",
        settings.host,
        settings.port,
        settings.data_dir,
        settings.effective_database_url.split("@")[-1],
    )
    uvicorn.Server(config).run()
