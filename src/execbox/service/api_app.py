"""``execbox api``: the HTTP service and the editor with no sandbox in the process.

Runs go to ``execbox worker`` processes through Redis (:mod:`execbox.dispatch.remote`);
users, plans, quotas and the run log are in the shared database.  This module and
everything it imports load no sandbox code (a test holds it to that), so the node
needs no root.  Start-up migrates the database (safely when several nodes start at
once) and does *not* finalize unfinished runs: other nodes' runs are still running, and
workers recover lost ones by lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio.to_thread
from fastapi import FastAPI
from pydantic import ValidationError
from redis.exceptions import RedisError

from execbox.dispatch.queue import languages_key
from execbox.dispatch.remote import RemoteDispatcher
from execbox.languages import LanguageRegistry, load_registry
from execbox.service.assemble import assemble
from execbox.service.context import ServiceContext
from execbox.service.janitor import RunLogJanitor
from execbox.service.metrics import Metrics
from execbox.service.queue_health import QueueReadiness
from execbox.service.runner import RunService
from execbox.service.schemas import LanguageInfo
from execbox.settings import Settings
from execbox.store import Clock, Database, plans, utcnow

log = logging.getLogger(__name__)

LANGUAGES_REFRESH_S = 5.0


def create_api_app(
    settings: Settings, *, registry: LanguageRegistry | None = None, clock: Clock = utcnow
) -> FastAPI:
    registry = registry or load_registry()
    db = Database(settings.effective_database_url)
    dispatcher = RemoteDispatcher(settings, db)
    metrics = Metrics(dispatcher.queue_depth, dispatcher.in_flight, dispatcher.workers)
    ctx = ServiceContext(
        settings=settings,
        db=db,
        registry=registry,
        dispatcher=dispatcher,
        runs=RunService(settings, db, registry, dispatcher, metrics, clock),
        readiness=QueueReadiness(db, dispatcher, settings.backend_timeout_s),
        metrics=metrics,
    )
    ctx.languages = _registry_languages(registry)
    janitor = RunLogJanitor(settings, db, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(_start, db, clock)
        await dispatcher.start()
        background = [asyncio.create_task(_languages_forever(ctx, dispatcher))]
        if janitor.enabled:
            background.append(asyncio.create_task(janitor.run_forever()))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            log.info("waiting for %d run(s) this node's clients wait for", dispatcher.in_flight())
            await ctx.runs.drain()
            await dispatcher.aclose()
            db.close()

    return assemble(ctx, lifespan)


def _start(db: Database, clock: Clock) -> None:
    db.migrate()
    with db.transaction() as session:
        plans.ensure_builtin(session, clock())


def _registry_languages(registry: LanguageRegistry) -> list[LanguageInfo]:
    """Until a worker says which versions it runs: every language, version unknown."""
    return [
        LanguageInfo(
            id=lang.id,
            name=lang.name,
            version=None,
            aliases=lang.aliases,
            extensions=lang.extensions,
            starter=lang.starter,
        )
        for lang in registry.all()
    ]


async def _languages_forever(ctx: ServiceContext, dispatcher: RemoteDispatcher) -> None:
    """The languages the workers run (each publishes its own as it reports): what
    ``/api/languages`` lists and requests may name."""
    key = languages_key(ctx.settings)
    full = ctx.registry
    while True:
        try:
            raw = await dispatcher.redis.get(key)
            if raw:
                offered = [LanguageInfo.model_validate(item) for item in json.loads(raw)]
                ctx.languages = offered
                ctx.registry = ctx.runs.registry = full.only(info.id for info in offered)
        except (RedisError, OSError, ValueError, ValidationError) as exc:
            log.debug("languages: not refreshed: %s", exc)
        await asyncio.sleep(LANGUAGES_REFRESH_S)
