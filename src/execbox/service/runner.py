"""One run request, from validation to the stored result.

The checks run in the contract's order: code size against the plan (413),
the day's quota (429; a plan of 0 daily runs allows no runs at all: 403), the
language (422), the plan allows it (403), then
limits and inputs (422).  Only then is the run recorded and its quota spent,
in one transaction, so a refused request never counts.  The run then goes to
the dispatcher; its result is stored whatever happens to the HTTP client.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

import anyio.to_thread

from execbox.dispatch import Dispatcher, JobOutcome, RunJob
from execbox.errors import InvalidInput, NoCapacity
from execbox.languages import LanguageRegistry
from execbox.limits import LimitOverrides, PlanCaps, resolve_limits
from execbox.service.auth import Caller, identify
from execbox.service.errors import CodeTooLarge, PlanForbidden, QuotaExceeded, RunNotFound
from execbox.service.metrics import Metrics
from execbox.service.schemas import RunDetail, RunRequest, RunResponse, RunSummary, RunView, Usage
from execbox.settings import Settings
from execbox.store import Clock, Database, runs, usage

log = logging.getLogger(__name__)
T = TypeVar("T")


class RunService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        registry: LanguageRegistry,
        dispatcher: Dispatcher,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.db = db
        self.registry = registry
        self.dispatcher = dispatcher
        self.metrics = metrics
        self.clock = clock
        self._tasks: set[asyncio.Task[RunResponse]] = set()

    async def _db(self, work: Callable[[], T]) -> T:
        return await anyio.to_thread.run_sync(work)

    async def identify(self, authorization: str | None, address: str, guest_id: str) -> Caller:
        day = usage.day_of(self.clock())

        def work() -> Caller:
            with self.db.transaction() as session:
                return identify(
                    session,
                    authorization=authorization,
                    address=address,
                    guest_id=guest_id,
                    guests_enabled=self.settings.guests_enabled,
                    day=day,
                )

        return await self._db(work)

    def usage(self, caller: Caller) -> Usage:
        return Usage.of(caller.plan, caller.runs_today)

    async def run(self, caller: Caller, request: RunRequest) -> RunResponse:
        plan = caller.plan
        _check_text("code", request.code)
        size = len(request.code.encode())
        if size > plan.max_code_bytes:
            raise CodeTooLarge(
                f"The code is {size} bytes; the {plan.name} plan allows at most "
                f"{plan.max_code_bytes} bytes.",
                field="code",
            )
        now = self.clock()
        if plan.daily_runs == 0:
            raise PlanForbidden(f"The {plan.name} plan allows no runs.")
        if caller.runs_today >= plan.daily_runs:
            raise self._quota_exceeded(caller, now)
        language = self.registry.get(request.language)
        if not plan.allows(language.id):
            raise PlanForbidden(
                f"The {plan.name} plan does not allow {language.id}.", field="language"
            )
        limits = resolve_limits(
            self.settings,
            language=language.limits,
            plan=PlanCaps(time_limit_s=plan.time_limit_s, memory_limit_mb=plan.memory_limit_mb),
            request=LimitOverrides.model_construct(
                time_limit_s=request.time_limit, memory_limit_mb=request.memory_limit
            ),
        )
        self._check_inputs(request)
        if not self.dispatcher.has_capacity():
            raise NoCapacity("Every worker is busy and the queue is full; try again.", 2)

        run_id = uuid.uuid4().hex
        if not await self._db(lambda: self._accept(caller, request, language.id, run_id, now)):
            raise self._quota_exceeded(caller, now)
        job = RunJob(run_id, language.id, request.code, request.stdin, tuple(request.args), limits)
        task = asyncio.create_task(self._execute(caller, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # shield: the run finishes and is stored even if the client hangs up
        return await asyncio.shield(task)

    def _quota_exceeded(self, caller: Caller, now: datetime) -> QuotaExceeded:
        return QuotaExceeded(
            f"The {caller.plan.name} plan's {caller.plan.daily_runs} runs for today are used up; "
            "they renew at 00:00 UTC.",
            retry_after_s=usage.seconds_to_next_day(now),
        )

    def _check_inputs(self, request: RunRequest) -> None:
        _check_text("stdin", request.stdin)
        if len(request.stdin.encode()) > self.settings.max_stdin_bytes:
            raise InvalidInput(
                f"stdin may be at most {self.settings.max_stdin_bytes} bytes.", field="stdin"
            )
        if len(request.args) > self.settings.max_args:
            raise InvalidInput(f"At most {self.settings.max_args} args are allowed.", field="args")
        for arg in request.args:
            _check_text("args", arg)
            if len(arg.encode()) > self.settings.max_arg_bytes:
                raise InvalidInput(
                    f"Each arg may be at most {self.settings.max_arg_bytes} bytes.", field="args"
                )

    def _accept(
        self, caller: Caller, request: RunRequest, language: str, run_id: str, now: datetime
    ) -> bool:
        with self.db.transaction() as session:
            day = usage.day_of(now)
            if not usage.try_spend(session, caller.subject, day, caller.plan.daily_runs):
                return False
            runs.record_queued(
                session,
                run_id=run_id,
                subject=caller.owner,
                user_id=caller.user.id if caller.user else None,
                plan=caller.plan.name,
                language=language,
                code=request.code,
                stdin=request.stdin,
                args=request.args,
                now=now,
            )
            return True

    async def _execute(self, caller: Caller, job: RunJob) -> RunResponse:
        try:
            outcome = await self.dispatcher.submit(job)
        except NoCapacity:
            await self._db(lambda: self._withdraw(job.run_id))
            raise
        self.metrics.observe(outcome)
        runs_today = await self._db(lambda: self._finish(caller, job.run_id, outcome))
        return RunResponse(
            **RunView.of(job.run_id, outcome.result).model_dump(),
            usage=Usage.of(caller.plan, runs_today),
        )

    def _withdraw(self, run_id: str) -> None:
        with self.db.transaction() as session:
            runs.withdraw(session, run_id)

    def _finish(self, caller: Caller, run_id: str, outcome: JobOutcome) -> int:
        now = self.clock()
        with self.db.transaction() as session:
            runs.finish(session, run_id, outcome.result, now)
            return usage.runs_on(session, caller.subject, usage.day_of(now))

    async def recent(self, caller: Caller, limit: int) -> list[RunSummary]:
        def work() -> list[RunSummary]:
            with self.db.transaction() as session:
                return [RunSummary.of(r) for r in runs.recent(session, caller.owner, limit)]

        return await self._db(work)

    async def detail(self, caller: Caller, run_id: str) -> RunDetail:
        def work() -> runs.RunRecord | None:
            with self.db.transaction() as session:
                return runs.get(session, caller.owner, run_id)

        record = await self._db(work)
        if record is None:
            raise RunNotFound(f"No run {run_id!r} of yours exists.")
        return RunDetail.of_record(record)

    def recover(self) -> int:
        """Finalize runs a crash left unfinished (blocking; call at start-up)."""
        with self.db.transaction() as session:
            count = runs.recover_interrupted(session, self.clock())
        if count:
            log.warning("finalized %d interrupted run(s) as internal_error", count)
        return count

    async def drain(self) -> None:
        """Wait for every accepted run to be finished and stored."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


def _check_text(field: str, value: str) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{field} must not contain NUL characters.", field=field)
    try:
        value.encode()
    except UnicodeEncodeError:
        raise InvalidInput(f"{field} must be valid Unicode text.", field=field) from None
