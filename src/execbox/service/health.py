"""Readiness: can a sandbox run a program right now?

``/readyz`` runs a language's test program (which prints ``OK``) through the
real engine and backend, and checks the database; the answer is cached for
``readiness_cache_s`` so probes cannot turn into a load of their own, and
concurrent probes share one check.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import anyio.to_thread

from execbox.engine import Engine
from execbox.limits import resolve_limits
from execbox.results import Status
from execbox.store import Database

log = logging.getLogger(__name__)

PREFERRED = ("python", "bash", "javascript")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class ReadinessProbe:
    def __init__(self, engine: Engine, db: Database, cache_s: float) -> None:
        self.engine = engine
        self.db = db
        self.cache_s = cache_s
        self._lock = asyncio.Lock()
        self._last: Readiness | None = None
        self._checked_at = 0.0

    async def check(self) -> Readiness:
        async with self._lock:
            fresh = time.monotonic() - self._checked_at < self.cache_s
            if self._last is None or not fresh:
                self._last = await anyio.to_thread.run_sync(self._check_now)
                self._checked_at = time.monotonic()
            return self._last

    def _check_now(self) -> Readiness:
        checks = {"database": self._database(), "sandbox": self._sandbox()}
        return Readiness(all(value == "ok" for value in checks.values()), checks)

    def _database(self) -> str:
        try:
            self.db.ping()
        except Exception as exc:
            log.error("readiness: database unreachable: %s", exc)
            return f"failed: {type(exc).__name__}"
        return "ok"

    def _sandbox(self) -> str:
        languages = self.engine.registry.all()
        if not languages:
            return "failed: no language is available on this host"
        by_id = {language.id: language for language in languages}
        language = next((by_id[i] for i in PREFERRED if i in by_id), languages[0])
        limits = resolve_limits(self.engine.settings)
        try:
            result = self.engine.run(
                language, language.test_program, limits=limits, run_id="readyz-" + uuid.uuid4().hex
            )
        except Exception as exc:
            log.exception("readiness: the sandbox self-check raised")
            return f"failed: {type(exc).__name__}"
        if result.status is not Status.OK or result.stdout.strip() != "OK":
            log.error("readiness: self-check gave %s: %s", result.status, result.message)
            return f"failed: {language.id} self-check ended {result.status.value}: {result.message}"
        return "ok"
