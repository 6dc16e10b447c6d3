"""The run queue on Redis, through saq (a maintained asyncio job library).

Why saq (compared in the scale-out note): JSON payloads by default (``json.dumps`` /
``json.loads``: nothing is ever unpickled), a heartbeat per job with a sweep that takes a
stuck job back from a worker that stopped renewing it and queues it again, a blocking
``BLMOVE`` dequeue (no polling: a run is taken within a Redis round trip) and a pubsub
notice per job update.  What saq does not decide is how many times a run may be tried:
the run log does (:func:`execbox.store.runs.begin_attempt`), so saq may deliver a job a
few times but a program runs at most twice.

A job's key is its run id (one live job per run; queuing a run again while it is queued
or taken is a no-op).  Workers publish ``<run id>`` on :func:`done_channel` once a run's
result is stored, which wakes the API node waiting for it.
"""

from __future__ import annotations

import contextlib
import json
import logging

from redis import asyncio as aioredis
from saq import Job, Status
from saq.queue.redis import RedisQueue

from execbox.dispatch.payload import job_kwargs
from execbox.settings import Settings

log = logging.getLogger(__name__)

JOB_FUNCTION = "execbox.run"
DELIVERIES = 8
"""How many times saq may hand one job out (lost workers, Redis restarts); the run log
still lets a program start at most twice."""
JOB_TTL_S = 600
"""How long a finished job's record stays in Redis (the run log keeps the result)."""
ALIVE_S = 10
"""A worker counts as alive this long after its last report (the contract's 10 s)."""


def redis_client(settings: Settings, *, timeout: float | None = None) -> aioredis.Redis:
    """A client whose calls fail (instead of hanging) within ``backend_timeout_s``."""
    if settings.redis_url is None:
        from execbox.errors import ConfigError

        raise ConfigError(
            "EXECBOX_REDIS_URL is not set: `execbox api` and `execbox worker` hand runs over "
            "Redis (redis://host:port/db)"
        )
    wait = settings.backend_timeout_s if timeout is None else timeout
    return aioredis.Redis.from_url(
        settings.redis_url,
        socket_timeout=wait,
        socket_connect_timeout=wait,
        socket_keepalive=True,
        health_check_interval=5,
    )


class RunQueue(RedisQueue):
    """saq's Redis queue, with one race of its sweep closed.

    A worker's ``BLMOVE`` puts a job in the active list a moment before the worker marks it
    active; saq's sweep takes any job in the active list that is not marked active as
    stuck, so a sweep in that moment would hand the job to a second worker while the first
    runs it.  Here a job found so is only remembered the first time (for 30 s) and swept
    when found so again by a later sweep: a worker that died in that moment still loses it.
    """

    async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
        """saq's sweep (one sweeper per ``lock`` seconds), with that race closed."""
        if not await self.redis.set(self._sweep, 1, nx=True, ex=lock):
            return []
        swept: list[str] = []
        raw_ids = await self.redis.lrange(self._active, 0, -1)
        for raw_id in raw_ids:
            job_id = raw_id.decode() if isinstance(raw_id, bytes) else raw_id
            job = self.deserialize(await self.redis.get(raw_id))
            if job is None:  # its record expired: nothing to run
                async with self.redis.pipeline(transaction=True) as pipe:
                    pipe.lrem(self._active, 0, job_id)
                    pipe.zrem(self._incomplete, job_id)
                    await pipe.execute()
                swept.append(job_id)
                continue
            if job.status is Status.ACTIVE and not job.stuck:
                continue
            if job.status is not Status.ACTIVE and await self.redis.set(
                f"{job_id}:unmarked", 1, nx=True, ex=30
            ):
                continue  # first seen unmarked: perhaps just taken
            log.warning("run %s: its worker stopped renewing its lease; taking it back", job.key)
            await self.abort(job, error=self.swept_error_message)
            with contextlib.suppress(TimeoutError):
                await job.refresh(abort)
            if job.retryable:
                await self.retry(job, error=self.swept_error_message)
            else:
                await self.finish(job, Status.ABORTED, error=self.swept_error_message)
            swept.append(job_id)
        return swept


def open_queue(settings: Settings, client: aioredis.Redis | None = None) -> RunQueue:
    return RunQueue(
        client or redis_client(settings),
        name=settings.queue_name,
        dump=json.dumps,
        load=json.loads,
        swept_error_message="its worker stopped renewing its lease",
    )


def done_channel(settings: Settings) -> str:
    return f"execbox:{settings.queue_name}:done"


def workers_key(settings: Settings) -> str:
    """Sorted set of worker ids scored by when their last report expires (ms)."""
    return f"execbox:{settings.queue_name}:workers"


def languages_key(settings: Settings) -> str:
    """The languages (and versions) the workers offer, as JSON, written by each worker."""
    return f"execbox:{settings.queue_name}:languages"


def make_job(settings: Settings, run_id: str, submitted_at: float) -> Job:
    return Job(
        function=JOB_FUNCTION,
        kwargs=job_kwargs(run_id, submitted_at),
        key=run_id,
        timeout=0,  # the sandbox enforces the run's own limits; the lease covers the worker
        heartbeat=2 * settings.job_heartbeat_s,
        retries=DELIVERIES,
        ttl=JOB_TTL_S,
    )
