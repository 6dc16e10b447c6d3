"""The app factory: ``create_app(settings)`` wires store, dispatcher, engine and routes.

Nothing happens at import.  Start-up (in the lifespan) migrates the database,
inserts missing built-in plans, finalizes runs a crash interrupted, reads
the toolchains' versions and, if the operator set a retention, prunes the run
log (then again every few minutes); shutdown drains: the server stops taking
requests, every accepted run finishes and is stored, then the workers stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI

from execbox.dispatch.local import LocalDispatcher
from execbox.engine import Engine
from execbox.languages import LanguageRegistry, load_registry
from execbox.sandbox.base import SandboxBackend
from execbox.sandbox.factory import offered, versions
from execbox.service.assemble import assemble
from execbox.service.context import ServiceContext
from execbox.service.health import ReadinessProbe
from execbox.service.janitor import RunLogJanitor
from execbox.service.metrics import Metrics
from execbox.service.runner import RunService
from execbox.service.schemas import LanguageInfo
from execbox.settings import Settings
from execbox.store import Clock, Database, plans, utcnow

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    backend: SandboxBackend | None = None,
    registry: LanguageRegistry | None = None,
    clock: Clock = utcnow,
) -> FastAPI:
    """The whole service as an ASGI app; ``backend``/``registry``/``clock`` are for tests."""
    if backend is None:
        from execbox.sandbox.factory import create_backend

        backend = create_backend(settings)
    registry = registry or load_registry()
    registry = offered(registry, backend)

    db = Database(settings.effective_database_url)
    engine = Engine(settings, registry, backend)
    dispatcher = LocalDispatcher(engine, workers=settings.workers, queue_limit=settings.queue_limit)
    metrics = Metrics(dispatcher.queue_depth, dispatcher.in_flight)
    probe = ReadinessProbe(engine, db, settings.readiness_cache_s, settings.selftest)
    ctx = ServiceContext(
        settings=settings,
        db=db,
        registry=registry,
        dispatcher=dispatcher,
        runs=RunService(settings, db, registry, dispatcher, metrics, clock),
        readiness=probe,
        metrics=metrics,
    )

    janitor = RunLogJanitor(settings, db, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(_start, ctx, probe, backend, clock)
        pruning: asyncio.Task[None] | None = None
        if janitor.enabled:
            await anyio.to_thread.run_sync(janitor.prune)
            pruning = asyncio.create_task(janitor.run_forever())
        try:
            yield
        finally:
            if pruning is not None:
                pruning.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await pruning
            log.info("draining %d in-flight run(s)", dispatcher.in_flight())
            await ctx.runs.drain()
            await anyio.to_thread.run_sync(dispatcher.close)
            close_backend = getattr(backend, "close", None)  # warm sandboxes, if it keeps any
            if close_backend is not None:
                await anyio.to_thread.run_sync(close_backend)
            db.close()

    return assemble(ctx, lifespan)


def _start(
    ctx: ServiceContext, probe: ReadinessProbe, backend: SandboxBackend, clock: Clock
) -> None:
    ctx.settings.data_dir.mkdir(parents=True, exist_ok=True)
    ctx.db.migrate()
    with ctx.db.transaction() as session:
        plans.ensure_builtin(session, clock())
    ctx.runs.recover()
    if ctx.settings.selftest:
        readiness = probe.check_now()
        if not probe.sandbox_ok:
            log.error("the sandbox failed its self-test; runs are refused: %s", readiness.checks)
    ctx.languages = [
        LanguageInfo(
            id=lang.id,
            name=lang.name,
            version=version,
            aliases=lang.aliases,
            extensions=lang.extensions,
            starter=lang.starter,
            highlight=lang.highlight,
            source_file=lang.source_file,
        )
        for lang, version in versions(ctx.registry, backend)
    ]
