"""Readiness: can a sandbox run a program right now?

``/readyz`` runs the sandbox self-test (a hello world and attacks that must
fail, :mod:`execbox.selftest`) through the real engine and backend, and checks
the database; the answer is cached for
``readiness_cache_s`` so probes cannot turn into a load of their own, and
concurrent probes share one check.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import anyio.to_thread

from execbox.engine import Engine
from execbox.limits import resolve_limits
from execbox.results import Status
from execbox.selftest import run_selftest
from execbox.service.readiness import Readiness
from execbox.store import Database

log = logging.getLogger(__name__)

PREFERRED = ("python", "bash", "javascript")


class ReadinessProbe:
    def __init__(self, engine: Engine, db: Database, cache_s: float, selftest: bool = True) -> None:
        self.engine = engine
        self.db = db
        self.cache_s = cache_s
        self.selftest = selftest
        self.sandbox_ok: bool | None = None
        """The last self-test's verdict (None before the first)."""
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

    async def sandbox_ready(self) -> bool:
        """Whether runs may go to the sandbox: yes after a passing self-test; after a
        failing one, only once a fresh self-test (at most every ``cache_s``) passes."""
        if not self.selftest or self.sandbox_ok:
            return True
        await self.check()
        return bool(self.sandbox_ok)

    def check_now(self) -> Readiness:
        """Check synchronously (at start-up) and remember the answer."""
        self._last = self._check_now()
        self._checked_at = time.monotonic()
        return self._last

    def _check_now(self) -> Readiness:
        sandbox = self._selftest() if self.selftest else self._sandbox()
        self.sandbox_ok = sandbox == "ok"
        checks = {"database": self._database(), "sandbox": sandbox}
        return Readiness(all(value == "ok" for value in checks.values()), checks)

    def _database(self) -> str:
        try:
            self.db.ping()
        except Exception as exc:
            log.error("readiness: database unreachable: %s", exc)
            return f"failed: {type(exc).__name__}"
        return "ok"

    def _selftest(self) -> str:
        try:
            checks = run_selftest(self.engine)
        except Exception as exc:
            log.exception("readiness: the sandbox self-test raised")
            return f"failed: {type(exc).__name__}"
        failed = [check.name for check in checks if not check.ok]
        if failed:
            return "failed: self-test: " + ", ".join(failed)
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
