"""One run request, from validation to the stored result.

A run costs two database transactions.  The first admits it
(:mod:`execbox.service.admission`: the caller looked up when the route passes only its
credentials, the contract's checks in order, the quota spent and the run recorded
``queued``; any refusal rolls it back, so a refused request never counts and leaves no
run).  The run then goes to the dispatcher; the second transaction stores its result
(whatever happens to the HTTP client) and reads the caller's runs today.

When the embedded pool has a worker idle, the request takes it for its whole way:
the admitting transaction, the run and the storing one happen on that worker, one
thread hop from the event loop and one back (rather than three hops each way); for
:meth:`RunService.submit`'s callers the loop also hears of the admission as soon as it is
decided (:meth:`RunService.run` needs only the stored result, a refusal included, so its
loop is not woken before).  The checks, their order
and their refusals are the same; a request that finds every worker busy is admitted
as above and waits in the queue (or is refused 503 when that is full).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

import anyio.to_thread

from execbox import foreground
from execbox.dispatch import (
    Dispatcher,
    JobOutcome,
    LiveDispatcher,
    QueueingDispatcher,
    RunJob,
    ThroughDispatcher,
)
from execbox.dispatch.base import Execute
from execbox.errors import NoCapacity
from execbox.languages import LanguageRegistry
from execbox.live import LiveRun, OutputSink
from execbox.service.admission import Admission, Build
from execbox.service.auth import Caller, Credentials, credentials, identify
from execbox.service.errors import RunNotFound
from execbox.service.handles import Finished, LiveHandle, Queued, Submitted
from execbox.service.metrics import Metrics
from execbox.service.schemas import RunDetail, RunRequest, RunResponse, RunSummary, Usage
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
        self.admission = Admission(settings, registry, dispatcher)
        self._tasks: set[asyncio.Future[Finished]] = set()

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
        with foreground.held():  # the sandbox's background work waits for the answer
            if isinstance(self.dispatcher, ThroughDispatcher) and self.dispatcher.reserve():
                # Nothing here needs the admission before the result (a refusal ends
                # ``done`` too): the loop is not woken when it is decided.
                _, done = self._start_through(
                    self.dispatcher, who, request, api, api_request, None, False, None
                )
            else:
                done = (await self.submit(who, request, api=api, api_request=api_request)).done
            # shield: the run finishes and is stored even if the client hangs up
            finished = await asyncio.shield(done)
            return RunResponse.of(
                finished.run_id,
                finished.result,
                usage=Usage.of(finished.caller.plan, finished.runs_today),
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
            return RunResponse.of(
                finished.run_id,
                finished.result,
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
        request: RunRequest | Build,
        *,
        api: str = "execbox",
        api_request: dict[str, Any] | None = None,
        live: LiveRun | None = None,
        interactive: bool = False,
    ) -> Submitted:
        """Check and record ``request`` and start it; answers as soon as it is accepted
        (the run goes on, and is stored, whatever happens to the caller).  ``request`` may
        be a front door's :data:`Build`, then called in the admitting transaction once the
        caller is known (one transaction where a lookup of its own would make two).  With ``live``
        the run streams to it; ``interactive`` gives it the interactive wall-clock limit."""
        if isinstance(self.dispatcher, ThroughDispatcher) and self.dispatcher.reserve():
            # On the worker reserved for this request: admitted, run and stored there;
            # answers once the admission is decided (a refusal raises).
            admitted: asyncio.Future[Caller] = asyncio.get_running_loop().create_future()
            run_id, done = self._start_through(
                self.dispatcher, who, request, api, api_request, live, interactive, admitted
            )
            try:
                # shield: a client that goes away must not lose the admission's answer
                caller = await asyncio.shield(admitted)
            except BaseException:
                if admitted.done() and not admitted.cancelled():  # refused: done says so
                    done.add_done_callback(_retrieved)
                raise
            return Submitted(run_id, done, caller)
        caller, job = await self._admit(
            who, request, api=api, api_request=api_request, interactive=interactive
        )
        task = asyncio.create_task(self._execute(caller, job, live))
        self._track(task)
        return Submitted(job.run_id, task, caller)

    def _track(self, done: asyncio.Future[Finished]) -> None:
        self._tasks.add(done)
        done.add_done_callback(self._tasks.discard)

    def _start_through(
        self,
        dispatcher: ThroughDispatcher,
        who: Caller | Credentials,
        request: RunRequest | Build,
        api: str,
        api_request: dict[str, Any] | None,
        live: LiveRun | None,
        interactive: bool,
        admitted: asyncio.Future[Caller] | None,
    ) -> tuple[str, asyncio.Future[Finished]]:
        """The request admitted, run and stored on the worker ``dispatcher`` reserved for
        it: its run id and the future of its end; ``admitted`` (if given) hears of the
        admission as soon as it is decided."""
        loop = asyncio.get_running_loop()
        now = self.clock()
        run_id = uuid.uuid4().hex

        def decided(outcome: Caller | BaseException) -> None:  # on the loop
            assert admitted is not None
            if admitted.done():
                return
            if isinstance(outcome, BaseException):
                admitted.set_exception(outcome)
            else:
                admitted.set_result(outcome)

        def work(execute: Execute) -> Finished:  # on the worker
            try:
                with self.db.connection() as connection:
                    caller, job = self.admission.accept(
                        connection, who, request, now, run_id, api, api_request, interactive,
                        reserved=True,
                    )  # fmt: skip
            except BaseException as exc:
                if admitted is not None:
                    loop.call_soon_threadsafe(decided, exc)
                raise
            if admitted is not None:
                loop.call_soon_threadsafe(decided, caller)
            outcome = execute(job, live)
            self.metrics.observe(outcome)
            runs_today = self._finish(caller, run_id, outcome)
            return Finished(run_id, outcome.result, runs_today, caller)

        future: Future[Finished] = dispatcher.run_reserved(work)
        done = asyncio.wrap_future(future)
        self._track(done)  # from now: the run goes on whatever happens to this request
        return run_id, done

    async def _admit(
        self,
        who: Caller | Credentials,
        request: RunRequest | Build,
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
                return self.admission.accept(
                    connection, who, request, now, run_id, api, api_request, interactive
                )

        return await self._db(work)

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
        return Finished(job.run_id, outcome.result, runs_today, caller)

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


def _retrieved(future: asyncio.Future[Finished]) -> None:
    """Marks a refused run's exception as seen (its request raised it already)."""
    if not future.cancelled():
        future.exception()
