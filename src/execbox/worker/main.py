"""The worker process: ``concurrency`` slots, each taking one run at a time from the queue.

Per run: the job is marked active in saq and its lease renewed every
``job_heartbeat_s`` while the run is held; the run log counts the attempt
(:mod:`execbox.worker.attempt`), the sandbox runs it, the result is stored, a notice on
the done channel wakes the API node waiting for it, and the job is finished in saq.

SIGTERM (or SIGINT): take nothing new, finish every run held, then exit.  SIGKILL: the
sandboxes die with the process (the backend ties each to it), the leases lapse, and a
sweep on any other worker gives the runs back to the queue; a worker that starts again
on this host removes what the dead one left (the sandbox layer, at its first use).

Upkeep, on every worker: report alive (``execbox_workers``, ``/readyz``), sweep jobs
whose lease lapsed (saq, one worker per interval), and reconcile: an unfinished run in
the run log that Redis no longer holds (lost with a Redis restart) is queued again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import anyio.to_thread
from redis.exceptions import RedisError
from saq import Job, Status
from saq.queue.redis import RedisQueue

from execbox.dispatch.payload import BadPayload, run_id_of
from execbox.dispatch.queue import (
    ALIVE_S,
    done_channel,
    languages_key,
    make_job,
    open_queue,
    redis_client,
    workers_key,
)
from execbox.engine import Engine
from execbox.settings import Settings
from execbox.store import Clock, Database, runs, utcnow
from execbox.worker.attempt import Attempts, GaveUp

log = logging.getLogger(__name__)

DEQUEUE_WAIT_S = 1
"""A slot waits this long for a run before it looks whether it should stop."""
RECONCILE_BATCH = 200
TERMINAL = (Status.COMPLETE, Status.FAILED, Status.ABORTED)


class Worker:
    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        db: Database,
        *,
        concurrency: int,
        languages: list[dict[str, object]],
        clock: Clock = utcnow,
    ) -> None:
        self.settings = settings
        self.db = db
        self.concurrency = concurrency
        self.languages = languages
        self.clock = clock
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._give_up = threading.Event()
        self.attempts = Attempts(engine, db, clock, self._give_up)
        self._stopping = asyncio.Event()
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="execbox-run")
        self.redis = redis_client(settings)
        self.queue: RedisQueue = open_queue(settings, self.redis)
        self.held = 0

    def stop(self) -> None:
        """Take nothing new; the runs held finish (what SIGTERM does)."""
        self._stopping.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        upkeep = [
            asyncio.create_task(self._every(self.settings.worker_report_s, self._report)),
            asyncio.create_task(self._every(self.settings.queue_sweep_s, self._sweep)),
            asyncio.create_task(self._every(self.settings.queue_reconcile_s, self._reconcile)),
        ]
        slots = [asyncio.create_task(self._slot()) for _ in range(self.concurrency)]
        log.info("worker %s: taking runs (%d at once)", self.id, self.concurrency)
        try:
            await self._stopping.wait()
            log.info("worker %s: stopping; finishing %d run(s) held", self.id, self.held)
            try:
                await asyncio.wait_for(
                    asyncio.gather(*slots, return_exceptions=True),
                    self.settings.drain_timeout_s,
                )
            except TimeoutError:
                log.error("worker %s: runs still held after the drain timeout", self.id)
                self._give_up.set()
        finally:
            for task in upkeep:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            with contextlib.suppress(RedisError, OSError):
                await self.redis.zrem(workers_key(self.settings), self.id)
            with contextlib.suppress(RedisError, OSError):
                await self.queue.disconnect()
            self._pool.shutdown(wait=False)
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)

    # --- taking runs ---------------------------------------------------------------------
    async def _slot(self) -> None:
        while not self._stopping.is_set():
            try:
                job = await self.queue.dequeue(timeout=DEQUEUE_WAIT_S)
            except (RedisError, OSError) as exc:
                log.warning("worker %s: the queue cannot be read (%s); retrying", self.id, exc)
                await self._pause(1.0)
                continue
            if job is not None and self._stopping.is_set():
                # Taken in the moment a SIGTERM came, before this slot saw it: give it
                # back untouched (nothing new once stopping), for another worker to take.
                log.info("worker %s: stopping; run %s given back", self.id, job.key)
                with contextlib.suppress(RedisError, OSError):
                    await self.queue.retry(job, "the worker took it while stopping")
                return
            if job is not None:
                self.held += 1
                try:
                    await self._process(job)
                finally:
                    self.held -= 1

    async def _process(self, job: Job) -> None:
        job.started = int(time.time() * 1000)
        job.attempts += 1
        job.worker_id = self.id
        with contextlib.suppress(RedisError, OSError):
            await self.queue.update(job, status=Status.ACTIVE)
        lease = asyncio.create_task(self._renew(job))
        try:
            await self._attempt(job)
        except GaveUp as exc:
            # The lease lapses with this process; a sweep gives the run to another worker.
            log.error("worker %s: %s", self.id, exc)
            return
        finally:
            lease.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await lease
        with contextlib.suppress(RedisError, OSError):
            await self.queue.finish(job, Status.COMPLETE)

    async def _attempt(self, job: Job) -> None:
        try:
            run_id = run_id_of(job.kwargs)
        except BadPayload as exc:
            log.error("worker %s: %s", self.id, exc)
            return
        loop = asyncio.get_running_loop()
        attempt = await loop.run_in_executor(self._pool, self.attempts.run, run_id)
        if attempt is runs.Attempt.MISSING:
            log.warning("worker %s: run %s is not in the run log; dropped", self.id, run_id)
        await self._announce(run_id)

    async def _announce(self, run_id: str) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.publish(done_channel(self.settings), run_id)

    async def _renew(self, job: Job) -> None:
        """Renew the job's lease while this worker holds it."""
        while True:
            await asyncio.sleep(self.settings.job_heartbeat_s)
            try:
                await self.queue.update(job)
            except (RedisError, OSError) as exc:
                log.warning("worker %s: lease of %s not renewed: %s", self.id, job.key, exc)

    # --- upkeep ----------------------------------------------------------------------------
    async def _every(self, interval: float, work: object) -> None:
        assert callable(work)
        while True:
            try:
                await work()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                log.debug("worker %s: upkeep skipped, Redis: %s", self.id, exc)
            except Exception:
                log.exception("worker %s: upkeep failed", self.id)
            await asyncio.sleep(interval)

    async def _report(self) -> None:
        now_ms = int(time.time() * 1000)
        key = workers_key(self.settings)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zadd(key, {self.id: now_ms + ALIVE_S * 1000})
            pipe.zremrangebyscore(key, 0, now_ms)
            pipe.set(languages_key(self.settings), json.dumps(self.languages))
            await pipe.execute()

    async def _sweep(self) -> None:
        swept = await self.queue.sweep(lock=max(1, self.settings.queue_sweep_s - 1), abort=1.0)
        if swept:
            log.warning("worker %s: took back %d run(s) whose lease lapsed", self.id, len(swept))

    async def _reconcile(self) -> None:
        """Queue again the unfinished runs that Redis no longer holds (one worker at a time)."""
        lock = f"execbox:{self.settings.queue_name}:reconcile"
        hold = max(1, int(self.settings.queue_reconcile_s) - 1)
        if not await self.redis.set(lock, self.id, nx=True, ex=hold):
            return
        grace = max(self.settings.queue_reconcile_s, 3.0 * self.settings.job_heartbeat_s)
        before = self.clock() - timedelta(seconds=grace)

        def unfinished() -> list[str]:
            with self.db.transaction() as session:
                return runs.unfinished_before(session, before, RECONCILE_BATCH)

        try:
            run_ids = await anyio.to_thread.run_sync(unfinished)
        except Exception as exc:
            log.debug("worker %s: reconcile skipped, database: %s", self.id, exc)
            return
        for run_id in run_ids:
            job = await self.queue.job(run_id)
            if job is not None and job.status not in TERMINAL:
                continue
            if await self.queue.enqueue(make_job(self.settings, run_id, time.time())):
                log.warning("worker %s: run %s was not in the queue; queued again", self.id, run_id)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
