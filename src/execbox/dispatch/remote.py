"""The API node's dispatcher: runs go to ``execbox worker`` processes through Redis.

``enqueue`` hands a run (already recorded as ``queued`` in the shared run log) to the
queue and returns; ``submit`` also waits until the run log holds its final result,
wherever it ran.  The worker stores the result itself, so a run finishes and is stored
even if this node dies; a worker's notice on the done channel wakes the waiter at once,
and the waiter reads the run log every ``result_poll_s`` in case a notice was lost.

Redis unreachable: ``enqueue`` raises :class:`QueueUnavailable` (503 with Retry-After)
within ``backend_timeout_s``, and the run is withdrawn by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import anyio.to_thread
from redis.exceptions import RedisError

from execbox.dispatch.base import JobOutcome, RunJob
from execbox.dispatch.queue import (
    done_channel,
    make_job,
    open_queue,
    redis_client,
    workers_key,
)
from execbox.errors import NoCapacity, QueueUnavailable
from execbox.results import RunResult
from execbox.settings import Settings
from execbox.store import Database, runs

log = logging.getLogger(__name__)

UNREACHABLE = "The run queue (Redis) cannot be reached; try again shortly."


class RemoteDispatcher:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.redis = redis_client(settings)
        self.queue = open_queue(settings, self.redis)
        self._waiters: dict[str, asyncio.Event] = {}
        self._listener: asyncio.Task[None] | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._closed = False
        self._depth = 0
        self._workers = 0
        self._redis_ok = False

    # --- life cycle ------------------------------------------------------------------------
    async def start(self) -> None:
        self._listener = asyncio.create_task(self._listen(), name="execbox-done-listener")
        self._watcher = asyncio.create_task(self._watch(), name="execbox-queue-watcher")
        await self.refresh()

    async def aclose(self) -> None:
        self._closed = True
        for task in (self._listener, self._watcher):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        with contextlib.suppress(RedisError, OSError):
            await self.queue.disconnect()

    # --- Dispatcher ------------------------------------------------------------------------
    def has_capacity(self) -> bool:
        return not self._closed

    def queue_depth(self) -> int:
        return self._depth

    def in_flight(self) -> int:
        return len(self._waiters)

    def workers(self) -> int:
        """Worker processes that reported within the last 10 s (as last seen)."""
        return self._workers

    def close(self) -> None:
        self._closed = True

    async def enqueue(self, job: RunJob) -> None:
        """Queue ``job`` (recorded as ``queued`` already) for a worker."""
        if self._closed:
            raise NoCapacity("The service is shutting down; try again shortly.", 5)
        saq_job = make_job(self.settings, job.run_id, time.time())
        try:
            await asyncio.wait_for(self.queue.enqueue(saq_job), self.settings.backend_timeout_s)
        except (RedisError, OSError, TimeoutError) as exc:
            log.error("run %s could not be queued: %s", job.run_id, exc)
            raise QueueUnavailable(UNREACHABLE, 5) from exc

    async def submit(self, job: RunJob) -> JobOutcome:
        """Queue ``job`` and wait for its stored result (see the module's doc)."""
        event = asyncio.Event()
        self._waiters[job.run_id] = event
        try:
            await self.enqueue(job)
            return await self.wait(job.run_id, event)
        finally:
            self._waiters.pop(job.run_id, None)

    async def wait(self, run_id: str, event: asyncio.Event) -> JobOutcome:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), self.settings.result_poll_s)
            event.clear()
            try:
                outcome = await anyio.to_thread.run_sync(self._stored, run_id)
            except Exception as exc:  # the database is away for now: keep waiting
                log.warning("run %s: the run log cannot be read yet: %s", run_id, exc)
                continue
            if outcome is not None:
                return outcome

    def _stored(self, run_id: str) -> JobOutcome | None:
        with self.db.transaction() as session:
            record = runs.by_id(session, run_id)
        if record is None:
            return JobOutcome(
                RunResult.internal_error("", "The run disappeared from the run log."), 0.0, 0.0
            )
        if not record.final or record.result is None:
            return None
        started = record.started_at or record.created_at
        finished = record.finished_at or started
        return JobOutcome(
            record.result,
            queue_wait_s=max(0.0, (started - record.created_at).total_seconds()),
            work_s=max(0.0, (finished - started).total_seconds()),
        )

    # --- background ------------------------------------------------------------------------
    async def _listen(self) -> None:
        """Wake waiters on the workers' done notices; after a lost connection, wake every
        waiter (each reads the run log) and subscribe again."""
        channel = done_channel(self.settings)
        while not self._closed:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(channel)
                self._wake_all()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message.get("type") != "message":
                        continue
                    run_id = message["data"].decode(errors="replace")
                    event = self._waiters.get(run_id)
                    if event is not None:
                        event.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("done notices: Redis connection lost (%s); reconnecting", exc)
                self._wake_all()
                await asyncio.sleep(0.5)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]

    def _wake_all(self) -> None:
        for event in self._waiters.values():
            event.set()

    async def _watch(self) -> None:
        while not self._closed:
            await asyncio.sleep(1.0)
            await self.refresh()

    async def refresh(self) -> bool:
        """Read the queue's depth and the live workers; whether Redis answered."""
        try:
            self._depth, self._workers = await asyncio.wait_for(
                self._read_counts(), self.settings.backend_timeout_s
            )
            self._redis_ok = True
        except (RedisError, OSError, TimeoutError) as exc:
            if self._redis_ok:
                log.warning("Redis cannot be reached: %s", exc)
            self._redis_ok = False
        return self._redis_ok

    async def _read_counts(self) -> tuple[int, int]:
        now_ms = int(time.time() * 1000)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.llen(self.queue.namespace("queued"))
            pipe.zcount(workers_key(self.settings), now_ms, "+inf")
            depth, workers = await pipe.execute()
        return int(depth), int(workers)

    @property
    def redis_ok(self) -> bool:
        return self._redis_ok
