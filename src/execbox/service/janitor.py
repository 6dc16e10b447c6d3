"""Applies the run log's retention settings: at start-up, then every few minutes.

Several API nodes may do it at once against one database; the deletes are
idempotent, so they only repeat each other's work.
"""

from __future__ import annotations

import asyncio
import logging

import anyio.to_thread
from sqlalchemy.exc import SQLAlchemyError

from execbox.settings import Settings
from execbox.store import Clock, Database
from execbox.store.retention import Pruned, Retention, prune

log = logging.getLogger(__name__)


class RunLogJanitor:
    def __init__(self, settings: Settings, db: Database, clock: Clock) -> None:
        self.retention = Retention(
            max_age_days=settings.run_log_retention_days, max_runs=settings.run_log_max_runs
        )
        self.interval_s = settings.run_log_prune_interval_s
        self.db = db
        self.clock = clock

    @property
    def enabled(self) -> bool:
        return not self.retention.keeps_everything

    def prune(self) -> Pruned:
        """One pass (blocking)."""
        with self.db.transaction() as session:
            pruned = prune(session, self.clock(), self.retention)
        if pruned.runs or pruned.usage_days:
            log.info(
                "run log retention: deleted %d run(s) and %d old usage row(s)",
                pruned.runs,
                pruned.usage_days,
            )
        return pruned

    async def run_forever(self) -> None:
        """A pass every ``interval_s`` until cancelled; a failed pass is logged and retried."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await anyio.to_thread.run_sync(self.prune)
            except SQLAlchemyError as exc:  # the database is down: the next pass will do
                log.warning("run log retention failed, retrying in %gs: %s", self.interval_s, exc)
            except Exception:  # a bug must not end retention for the life of the process
                log.exception("run log retention failed, retrying in %gs", self.interval_s)
