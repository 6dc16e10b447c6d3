"""One run request, from validation to the stored result.

A run costs two database transactions, each one thread hop.  The first admits
it: the caller looked up (when the route passes only its credentials), then the
checks in the contract's order: code size (every file of a multi-file program
counted) against the plan (413), the day's quota (429; a plan of 0 daily runs
allows no runs at all: 403), the language (422), the plan allows it (403), then
limits and inputs (422) and capacity (503); the quota is spent at its check and
the run recorded ``queued`` at the end.  Any refusal rolls the transaction back,
so a refused request never counts and leaves no run.  The run then goes to the
dispatcher; the second transaction stores its result (whatever happens to the
HTTP client) and reads the caller's runs today.
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
from sqlalchemy import Connection

from execbox.dispatch import Dispatcher, JobOutcome, LiveDispatcher, QueueingDispatcher, RunJob
from execbox.errors import InvalidInput, NoCapacity
from execbox.languages import LanguageRegistry
from execbox.limits import LimitOverrides, PlanCaps, resolve_limits
from execbox.live import LiveRun, OutputSink
from execbox.program import layout, total_bytes
from execbox.service.auth import Caller, Credentials, credentials, identify
from execbox.service.errors import CodeTooLarge, PlanForbidden, QuotaExceeded, RunNotFound
from execbox.service.handles import Finished, LiveHandle, Queued, Submitted
from execbox.service.inputs import check_text, program_of
from execbox.service.metrics import Metrics
from execbox.service.schemas import RunDetail, RunRequest, RunResponse, RunSummary, RunView, Usage
from execbox.settings import Settings
from execbox.store import Clock, Database, runpath, runs, usage

log = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["Finished", "LiveHandle", "Queued", "RunService", "Submitted"]


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
        """The caller, in a transaction of its own (the routes that start no run, and the
        front doors that need the plan before they build the run request)."""
        return await self.identify_credentials(credentials(authorization, address, guest_id))

    async def identify_credentials(self, who: Credentials) -> Caller:
        day = usage.day_of(self.clock())

        def work() -> Caller:
            with self.db.connection() as connection:
                return identify(
                    connection, who, guests_enabled=self.settings.guests_enabled, day=day
                )

        return await self._db(work)

    def usage(self, caller: Caller) -> Usage:
        return Usage.of(caller.plan, caller.runs_today)

    async def run(
        self,
        who: Caller | Credentials,
        request: RunRequest,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
    ) -> RunResponse:
        """Check, record and run ``request``; answers when the run is final.

        ``who``: the caller, or a request's credentials, then looked up in the transaction
        that admits the run.  ``api`` names the front door (recorded with the run);
        ``api_request`` is whatever that front door needs kept to show the run later.
        """
        submitted = await self.submit(who, request, api=api, api_request=api_request)
        # shield: the run finishes and is stored even if the client hangs up
        finished = await asyncio.shield(submitted.done)
        return RunResponse(
            **RunView.of(finished.run_id, finished.result).model_dump(),
            usage=Usage.of(submitted.caller.plan, finished.runs_today),
        )

    async def start_live(
        self,
        who: Caller | Credentials,
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
            who,
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
                usage=Usage.of(submitted.caller.plan, finished.runs_today),
            )

        language = self.registry.get(request.language).id
        return LiveHandle(
            submitted.run_id, language, live, asyncio.create_task(respond()), submitted.caller
        )

    async def submit_async(
        self,
        who: Caller | Credentials,
        request: RunRequest,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
    ) -> Queued:
        """Check, record and queue ``request`` (``POST /api/runs``); answers once it is
        accepted.  Scaled out, nothing in this process waits for it: a worker stores its
        result.  Embedded, it runs here in the background, as :meth:`submit` does."""
        if not isinstance(self.dispatcher, QueueingDispatcher):
            submitted = await self.submit(who, request, api=api, api_request=api_request)
            return Queued(submitted.run_id, submitted.caller.runs_today + 1, submitted.caller)
        caller, job = await self._admit(who, request, api=api, api_request=api_request)
        try:
            await self.dispatcher.enqueue(job)
        except NoCapacity:
            await self._db(lambda: self._withdraw(job.run_id))
            raise
        return Queued(job.run_id, caller.runs_today + 1, caller)

    async def submit(
        self,
        who: Caller | Credentials,
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
        caller, job = await self._admit(
            who, request, api=api, api_request=api_request, interactive=interactive
        )
        task = asyncio.create_task(self._execute(caller, job, live))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return Submitted(job.run_id, task, caller)

    async def _admit(
        self,
        who: Caller | Credentials,
        request: RunRequest,
        *,
        api: str,
        api_request: dict[str, Any] | None,
        interactive: bool = False,
    ) -> tuple[Caller, RunJob]:
        """The caller (if only its credentials are known), every check in the contract's
        order, the quota spent and the run recorded: one transaction, one thread hop."""
        now = self.clock()
        run_id = uuid.uuid4().hex

        def work() -> tuple[Caller, RunJob]:
            with self.db.connection() as connection:
                return self._accept(
                    connection, who, request, now, run_id, api, api_request, interactive
                )

        return await self._db(work)

    def _accept(
        self,
        connection: Connection,
        who: Caller | Credentials,
        request: RunRequest,
        now: datetime,
        run_id: str,
        api: str,
        api_request: dict[str, Any] | None,
        interactive: bool,
    ) -> tuple[Caller, RunJob]:
        """Inside the admitting transaction: any refusal raises, which rolls back the quota
        spent, so a refused request spends nothing and records nothing."""
        day = usage.day_of(now)
        if isinstance(who, Caller):
            caller = who
        else:
            caller = identify(
                connection,
                who,
                guests_enabled=self.settings.guests_enabled,
                day=day,
                count_runs=False,
            )
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
        if plan.daily_runs == 0:
            raise PlanForbidden(f"The {plan.name} plan allows no runs.")
        counted = runpath.spend(connection, caller.subject, day, plan.daily_runs)
        if counted is None:
            raise self._quota_exceeded(caller, now)
        caller = replace(caller, runs_today=counted - 1)
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
                time_limit_s=request.time_limit,
                memory_limit_mb=request.memory_limit,
                file_size_kb=request.file_size_limit,
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
        runpath.record_queued(
            connection,
            run_id=run_id,
            subject=caller.owner,
            user_id=caller.user.id if caller.user else None,
            plan=plan.name,
            language=language.id,
            code=files[0].content.decode(),
            files=[{"name": f.name, "content": f.content.decode()} for f in files]
            if request.files is not None
            else None,
            stdin=request.stdin,
            args=request.args,
            api=api,
            api_request=api_request,
            limits=asdict(limits),
            now=now,
        )
        job = RunJob(
            run_id,
            language.id,
            files[0].content.decode(),
            request.stdin,
            tuple(request.args),
            limits,
            files=tuple(files) if request.files is not None else (),
        )
        return caller, job

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
        with self.db.connection() as connection:
            return runpath.runs_on(connection, caller.subject, usage.day_of(self.clock()))

    def _finish(self, caller: Caller, run_id: str, outcome: JobOutcome) -> int:
        """The result stored and the caller's runs today read: one transaction."""
        now = self.clock()
        with self.db.connection() as connection:
            runpath.finish(
                connection, run_id, outcome.result, now, queue_wait_s=outcome.queue_wait_s
            )
            return runpath.runs_on(connection, caller.subject, usage.day_of(now))

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
