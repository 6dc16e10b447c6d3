"""One run request, from validation to the stored result.

The checks run in the contract's order: code size (every file of a multi-file
program counted) against the plan (413), the day's quota (429; a plan of 0
daily runs allows no runs at all: 403), the language (422), the plan allows it
(403), then
limits and inputs (422).  Only then is the run recorded and its quota spent,
in one transaction, so a refused request never counts.  The run then goes to
the dispatcher; its result is stored whatever happens to the HTTP client.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any, TypeVar

import anyio.to_thread

from execbox.dispatch import Dispatcher, JobOutcome, LiveDispatcher, QueueingDispatcher, RunJob
from execbox.errors import InvalidInput, NoCapacity
from execbox.languages import LanguageRegistry
from execbox.limits import LimitOverrides, PlanCaps, resolve_limits
from execbox.live import LiveRun, OutputSink
from execbox.program import layout, total_bytes
from execbox.service.auth import Caller, identify
from execbox.service.errors import CodeTooLarge, PlanForbidden, QuotaExceeded, RunNotFound
from execbox.service.handles import Accepted, Finished, LiveHandle, Queued, Submitted
from execbox.service.inputs import check_text, program_of
from execbox.service.metrics import Metrics
from execbox.service.schemas import RunDetail, RunRequest, RunResponse, RunSummary, RunView, Usage
from execbox.settings import Settings
from execbox.store import Clock, Database, runs, usage

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Accepted", "Finished", "LiveHandle", "Queued", "RunService", "Submitted"]


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
        self._tasks: set[asyncio.Task[Finished]] = set()

    @property
    def streams(self) -> bool:
        """Whether runs here can stream (the embedded pool); a node of remote workers cannot."""
        return isinstance(self.dispatcher, LiveDispatcher)

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

    async def run(
        self,
        caller: Caller,
        request: RunRequest,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
    ) -> RunResponse:
        """Check, record and run ``request``; answers when the run is final.

        ``api`` names the front door (recorded with the run); ``api_request`` is whatever
        that front door needs kept to show the run later.
        """
        submitted = await self.submit(caller, request, api=api, api_request=api_request)
        # shield: the run finishes and is stored even if the client hangs up
        finished = await asyncio.shield(submitted.done)
        return RunResponse(
            **RunView.of(finished.run_id, finished.result).model_dump(),
            usage=Usage.of(caller.plan, finished.runs_today),
        )

    async def start_live(
        self,
        caller: Caller,
        request: RunRequest,
        sink: OutputSink,
        *,
        interactive_wall: bool = True,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
    ) -> LiveHandle:
        """Admit ``request`` as a streaming run, with the same checks, quota and run log as
        :meth:`run`; output goes to ``sink`` (called from a worker thread) as it is written.

        Its wall-clock limit is the interactive one (a person types) unless
        ``interactive_wall`` is false; its CPU-time limit is the plan's.  The run is stored
        whatever happens to the client."""
        if not self.streams:
            raise NoCapacity(
                "Streaming runs need the all-in-one server (execbox serve); this node hands "
                "runs to remote workers.",
                60,
            )
        live = LiveRun(
            sink,
            stdin=request.stdin.encode(),
            max_pending_input=self.settings.max_pending_input_bytes,
        )
        submitted = await self.submit(
            caller,
            request,
            api=api,
            api_request=api_request,
            live=live,
            interactive=interactive_wall,
        )

        async def respond() -> RunResponse:
            finished = await asyncio.shield(submitted.done)
            return RunResponse(
                **RunView.of(finished.run_id, finished.result).model_dump(),
                usage=Usage.of(caller.plan, finished.runs_today),
            )

        language = self.registry.get(request.language).id
        return LiveHandle(submitted.run_id, language, live, asyncio.create_task(respond()))

    async def submit_async(
        self,
        caller: Caller,
        request: RunRequest,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
    ) -> Queued:
        """Check, record and queue ``request`` (``POST /api/runs``); answers once it is
        accepted.  Scaled out, nothing in this process waits for it: a worker stores its
        result.  Embedded, it runs here in the background, as :meth:`submit` does."""
        if not isinstance(self.dispatcher, QueueingDispatcher):
            submitted = await self.submit(caller, request, api=api, api_request=api_request)
            return Queued(submitted.run_id, caller.runs_today + 1)
        job = await self._admit(caller, request, api=api, api_request=api_request)
        try:
            await self.dispatcher.enqueue(job)
        except NoCapacity:
            await self._db(lambda: self._withdraw(job.run_id))
            raise
        return Queued(job.run_id, caller.runs_today + 1)

    async def submit(
        self,
        caller: Caller,
        request: RunRequest,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
        live: LiveRun | None = None,
        interactive: bool = False,
    ) -> Submitted:
        """Check and record ``request`` and start it; answers as soon as it is accepted
        (the run goes on, and is stored, whatever happens to the caller).  With ``live``
        the run streams to it; ``interactive`` gives it the interactive wall-clock limit."""
        job = await self._admit(
            caller, request, api=api, api_request=api_request, interactive=interactive
        )
        task = asyncio.create_task(self._execute(caller, job, live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Submitted(job.run_id, task)

    async def _admit(
        self,
        caller: Caller,
        request: RunRequest,
        *,
        api: str,
        api_request: dict[str, Any] | None,
        interactive: bool = False,
    ) -> RunJob:
        """Every check in the contract's order, then the run recorded and its quota spent."""
        plan = caller.plan
        files = program_of(request)
        size = total_bytes(files)
        if size > plan.max_code_bytes:
            what = "code is" if request.files is None else "files total"
            raise CodeTooLarge(
                f"The {what} {size} bytes; the {plan.name} plan allows at most "
                f"{plan.max_code_bytes} bytes.",
                field="code" if request.files is None else "files",
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
        if request.files is not None:
            layout(files, language.source_file)  # the names, checked before anything is kept
        self._check_inputs(request)
        if not self.dispatcher.has_capacity():
            raise NoCapacity("Every worker is busy and the queue is full; try again.", 2)
        if interactive:
            limits = replace(
                limits, time_s=max(limits.time_s, self.settings.interactive_time_limit_s)
            )

        run_id = uuid.uuid4().hex
        accepted = Accepted(run_id, language.id, files, request, api, api_request, limits)
        if not await self._db(lambda: self._accept(caller, accepted, now)):
            raise self._quota_exceeded(caller, now)
        return RunJob(
            run_id,
            language.id,
            files[0].content.decode(),
            request.stdin,
            tuple(request.args),
            limits,
            files=tuple(files) if request.files is not None else (),
        )

    def _quota_exceeded(self, caller: Caller, now: datetime) -> QuotaExceeded:
        return QuotaExceeded(
            f"The {caller.plan.name} plan's {caller.plan.daily_runs} runs for today are used up; "
            "they renew at 00:00 UTC.",
            retry_after_s=usage.seconds_to_next_day(now),
        )

    def _check_inputs(self, request: RunRequest) -> None:
        check_text("stdin", request.stdin)
        if len(request.stdin.encode()) > self.settings.max_stdin_bytes:
            raise InvalidInput(
                f"stdin may be at most {self.settings.max_stdin_bytes} bytes.", field="stdin"
            )
        if len(request.args) > self.settings.max_args:
            raise InvalidInput(f"At most {self.settings.max_args} args are allowed.", field="args")
        for arg in request.args:
            check_text("args", arg)
            if len(arg.encode()) > self.settings.max_arg_bytes:
                raise InvalidInput(
                    f"Each arg may be at most {self.settings.max_arg_bytes} bytes.", field="args"
                )

    def _accept(self, caller: Caller, accepted: Accepted, now: datetime) -> bool:
        request = accepted.request
        with self.db.transaction() as session:
            day = usage.day_of(now)
            if not usage.try_spend(session, caller.subject, day, caller.plan.daily_runs):
                return False
            runs.record_queued(
                session,
                run_id=accepted.run_id,
                subject=caller.owner,
                user_id=caller.user.id if caller.user else None,
                plan=caller.plan.name,
                language=accepted.language,
                code=accepted.files[0].content.decode(),
                files=[{"name": f.name, "content": f.content.decode()} for f in accepted.files]
                if request.files is not None
                else None,
                stdin=request.stdin,
                args=request.args,
                api=accepted.api,
                api_request=accepted.api_request,
                limits=asdict(accepted.limits),
                now=now,
            )
            return True

    async def _execute(self, caller: Caller, job: RunJob, live: LiveRun | None) -> Finished:
        try:
            if live is not None:
                assert isinstance(self.dispatcher, LiveDispatcher)
                outcome = await self.dispatcher.submit_live(job, live)
            else:
                outcome = await self.dispatcher.submit(job)
        except NoCapacity:
            await self._db(lambda: self._withdraw(job.run_id))
            raise
        self.metrics.observe(outcome)
        if isinstance(self.dispatcher, QueueingDispatcher):  # the worker stored it
            runs_today = await self._db(lambda: self._runs_today(caller))
        else:
            runs_today = await self._db(lambda: self._finish(caller, job.run_id, outcome))
        return Finished(job.run_id, outcome.result, runs_today)

    def _withdraw(self, run_id: str) -> None:
        with self.db.transaction() as session:
            runs.withdraw(session, run_id)

    def _runs_today(self, caller: Caller) -> int:
        with self.db.transaction() as session:
            return usage.runs_on(session, caller.subject, usage.day_of(self.clock()))

    def _finish(self, caller: Caller, run_id: str, outcome: JobOutcome) -> int:
        now = self.clock()
        with self.db.transaction() as session:
            runs.finish(session, run_id, outcome.result, now, queue_wait_s=outcome.queue_wait_s)
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

    async def record(self, run_id: str) -> runs.RunRecord | None:
        """Any caller's run by id, for a front door that decides itself who may see it
        (Judge0's tokens)."""

        def work() -> runs.RunRecord | None:
            with self.db.transaction() as session:
                return runs.by_id(session, run_id)

        return await self._db(work)

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
