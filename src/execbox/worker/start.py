"""Start a worker: settings, database, sandbox (self-tested), then :class:`Worker`."""

from __future__ import annotations

import asyncio
import logging
import sys

from execbox.engine import Engine
from execbox.languages import load_registry
from execbox.sandbox.factory import create_backend, offered, versions
from execbox.selftest import run_selftest
from execbox.settings import Settings
from execbox.store import Database, plans, utcnow
from execbox.worker.main import Worker

log = logging.getLogger(__name__)


def run_worker(settings: Settings, concurrency: int) -> int:
    """Run until SIGTERM; the exit status (1: the sandbox failed its self-test)."""
    backend = create_backend(settings)
    registry = offered(load_registry(), backend)
    engine = Engine(settings, registry, backend)
    if settings.selftest:
        # also the first use of the sandbox: it removes what a dead worker on this host left
        failed = [check for check in run_selftest(engine) if not check.ok]
        if failed:
            for check in failed:
                log.error("sandbox self-test failed: %s: %s", check.name, check.detail)
            print(
                "execbox worker: the sandbox failed its self-test; not taking runs", file=sys.stderr
            )
            return 1
    db = Database(settings.effective_database_url)
    try:
        db.migrate()
        with db.transaction() as session:
            plans.ensure_builtin(session, utcnow())
        languages: list[dict[str, object]] = [
            {
                "id": lang.id,
                "name": lang.name,
                "version": version,
                "aliases": lang.aliases,
                "extensions": lang.extensions,
                "starter": lang.starter,
            }
            for lang, version in versions(registry, backend)
        ]
        worker = Worker(settings, engine, db, concurrency=concurrency, languages=languages)
        asyncio.run(worker.run())
    finally:
        db.close()
        close_backend = getattr(backend, "close", None)  # its warm sandboxes go with it
        if close_backend is not None:
            close_backend()
    return 0
