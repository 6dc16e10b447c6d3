"""Readiness of an API node (``execbox api``): the database and Redis answer, and at
least one worker reported within the last 10 s.  The node runs nothing itself, so there
is no sandbox to test here: each worker tests its own at start."""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread

from execbox.dispatch.remote import RemoteDispatcher
from execbox.service.readiness import Readiness
from execbox.store import Database

log = logging.getLogger(__name__)


class QueueReadiness:
    def __init__(self, db: Database, dispatcher: RemoteDispatcher, timeout_s: float) -> None:
        self.db = db
        self.dispatcher = dispatcher
        self.timeout_s = timeout_s

    async def check(self) -> Readiness:
        database, redis = await asyncio.gather(self._database(), self._redis())
        if redis != "ok":
            workers = "unknown: Redis cannot be reached"
        elif self.dispatcher.workers() < 1:
            workers = "failed: no worker reported within the last 10 s"
        else:
            workers = "ok"
        checks = {"database": database, "redis": redis, "workers": workers}
        return Readiness(all(v == "ok" for v in checks.values()), checks)

    async def sandbox_ready(self) -> bool:
        return True  # runs wait in the queue for a worker; each worker tests its sandbox

    async def _database(self) -> str:
        try:
            with anyio.fail_after(self.timeout_s):
                await anyio.to_thread.run_sync(self.db.ping, abandon_on_cancel=True)
        except TimeoutError:
            return "failed: no answer in time"
        except Exception as exc:
            log.error("readiness: database unreachable: %s", exc)
            return f"failed: {type(exc).__name__}"
        return "ok"

    async def _redis(self) -> str:
        return "ok" if await self.dispatcher.refresh() else "failed: Redis cannot be reached"
