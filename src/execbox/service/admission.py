"""A run request's admission: the contract's checks in order, the quota spent and the run
recorded ``queued``, inside the admitting transaction (:mod:`execbox.service.runner`).

The order: the caller (401, when only credentials are known), code size against the
plan (413; every file of a multi-file program counted), a plan of no runs (403), the
day's quota (429, spent here), the language (422), the plan allows it (403), limits and
inputs (422), then capacity (503).  Any refusal raises, which rolls the transaction
back: a refused request spends nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from execbox.dispatch import Dispatcher, RunJob
from execbox.errors import InvalidInput, NoCapacity
from execbox.languages import LanguageRegistry
from execbox.limits import LimitOverrides, PlanCaps, resolve_limits
from execbox.program import layout, total_bytes
from execbox.service.auth import Caller, Credentials, identify
from execbox.service.errors import CodeTooLarge, PlanForbidden, QuotaExceeded
from execbox.service.inputs import check_text, program_of
from execbox.service.schemas import RunRequest
from execbox.settings import Settings
from execbox.store import runpath, usage

Build = Callable[[Caller], tuple[RunRequest, dict[str, Any] | None]]
"""A front door's own reading of its request, once the caller is known (its checks need
the plan): the run request and what that front door keeps with the run.  It runs in the
admitting transaction, after the caller is looked up and before the other checks; a
refusal it raises rolls the transaction back like any other."""


class Admission:
    def __init__(
        self, settings: Settings, registry: LanguageRegistry, dispatcher: Dispatcher
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.dispatcher = dispatcher

    def accept(
        self,
        connection: Connection,
        who: Caller | Credentials,
        request: RunRequest | Build,
        now: datetime,
        run_id: str,
        api: str,
        api_request: dict[str, Any] | None,
        interactive: bool,
        *,
        reserved: bool = False,
    ) -> tuple[Caller, RunJob]:
        """Inside the admitting transaction: any refusal raises, which rolls back the quota
        spent, so a refused request spends nothing and records nothing.  ``reserved``: a
        worker is the request's already (no capacity to check)."""
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
        if not isinstance(request, RunRequest):
            request, api_request = request(caller)
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
            raise self.quota_exceeded(caller, now)
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
        self.check_inputs(request)
        if not reserved and not self.dispatcher.has_capacity():
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

    def quota_exceeded(self, caller: Caller, now: datetime) -> QuotaExceeded:
        return QuotaExceeded(
            f"The {caller.plan.name} plan's {caller.plan.daily_runs} runs for today are used up; "
            "they renew at 00:00 UTC.",
            retry_after_s=usage.seconds_to_next_day(now),
        )

    def check_inputs(self, request: RunRequest) -> None:
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
