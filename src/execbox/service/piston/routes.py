"""Piston v2's routes: ``GET /api/v2/runtimes`` and ``POST /api/v2/execute``.

``piston-client`` sends its JSON with no Content-Type (or ``text/plain``), so the
body is read as JSON whatever it says.  Refusals are Piston's ``{"message"}``
bodies: 400 for what Piston refuses (unknown runtime, bad limits, bad fields),
and execbox's own status for the rest (401 key, 403 plan, 413 size, 429 quota,
503 capacity, with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
import math
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from execbox.dispatch import NoCapacity
from execbox.errors import RequestError, UnknownLanguage
from execbox.languages import Language
from execbox.limits import MIB
from execbox.service.auth import Caller, credentials
from execbox.service.context import ServiceContext
from execbox.service.errors import QuotaExceeded, http_status
from execbox.service.guests import guest_id
from execbox.service.piston.wire import BadRequest, Execute, answer, parse, version_matches
from execbox.service.routes import address_of
from execbox.service.schemas import FileIn, RunRequest

router = APIRouter(prefix="/piston/api/v2", tags=["piston"])


def _message(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"message": message}, status_code=status, headers=headers)


def _refusal(exc: Exception) -> JSONResponse:
    if isinstance(exc, BadRequest):
        return _message(400, exc.message)
    if isinstance(exc, NoCapacity):
        return _message(503, exc.message, exc.retry_after_s)
    if isinstance(exc, QuotaExceeded):
        return _message(429, exc.message, exc.retry_after_s)
    assert isinstance(exc, RequestError)
    status = http_status(exc)
    return _message(status if status in (401, 403, 404, 413) else 400, exc.message)


@router.get("/runtimes")
async def runtimes(request: Request) -> JSONResponse:
    """The runtimes this host runs, as Piston lists them."""
    ctx: ServiceContext = request.app.state.execbox
    return JSONResponse(
        [
            {"language": info.id, "version": info.version or "0.0.0", "aliases": info.aliases}
            for info in ctx.languages
        ]
    )


def _check_limits(
    ctx: ServiceContext, who: Caller, body: Execute
) -> tuple[float | None, int | None]:
    """Piston's limit checks against the caller's plan: the request's time and memory."""
    settings = ctx.settings
    time_ceiling_s = min(settings.max_time_limit_s, who.plan.time_limit_s)
    memory_ceiling_mb = min(settings.max_memory_limit_mb, who.plan.memory_limit_mb)
    time_limit: float | None = None
    memory_limit: int | None = None
    if body.run_timeout_ms is not None:
        if body.run_timeout_ms <= 0:
            raise BadRequest("run_timeout must be a positive number of milliseconds")
        if body.run_timeout_ms > time_ceiling_s * 1000:
            raise BadRequest(
                f"run_timeout cannot exceed the configured limit of {time_ceiling_s * 1000:g}"
            )
        time_limit = body.run_timeout_ms / 1000
    if body.compile_timeout_ms is not None:
        ceiling_ms = settings.compile_time_limit_s * 1000
        if body.compile_timeout_ms <= 0 or body.compile_timeout_ms > ceiling_ms:
            raise BadRequest(
                f"compile_timeout cannot exceed the configured limit of {ceiling_ms:g}"
            )
    if body.run_memory_bytes is not None:
        if body.run_memory_bytes > memory_ceiling_mb * MIB:
            raise BadRequest(
                f"run_memory_limit cannot exceed the configured limit of {memory_ceiling_mb * MIB}"
            )
        if body.run_memory_bytes < 8 * MIB:
            raise BadRequest(f"run_memory_limit must be at least {8 * MIB}")
        memory_limit = math.ceil(body.run_memory_bytes / MIB)
    if body.compile_memory_bytes is not None:
        ceiling = settings.compile_memory_limit_mb * MIB
        if body.compile_memory_bytes > ceiling:
            raise BadRequest(
                f"compile_memory_limit cannot exceed the configured limit of {ceiling}"
            )
    return time_limit, memory_limit


@router.post("/execute")
async def execute(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> JSONResponse:
    """Run a program as Piston's ``/api/v2/execute`` does; the run counts like any other."""
    ctx: ServiceContext = request.app.state.execbox
    try:
        try:
            data = json.loads(await request.body())
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BadRequest("The request body is not valid JSON") from exc
        body = parse(data)
    except BadRequest as exc:
        return _refusal(exc)
    ready = await ctx.readiness.sandbox_ready()
    language: Language | None = None

    def build(who: Caller) -> tuple[RunRequest, dict[str, Any]]:
        # in the admitting transaction, once the caller is known: Piston's own checks (its
        # limits are the plan's), in the order they had with a lookup of their own
        nonlocal language
        try:
            language = ctx.registry.get(body.language)
        except UnknownLanguage as exc:
            raise BadRequest(f"{body.language}-{body.version} runtime is unknown") from exc
        version = {info.id: info.version for info in ctx.languages}.get(language.id)
        if not version_matches(body.version, version):
            raise BadRequest(f"{body.language}-{body.version} runtime is unknown")
        time_limit, memory_limit = _check_limits(ctx, who, body)
        if not ready:
            raise NoCapacity("The sandbox failed its self-test; no runs until it passes.", 30)
        run_request = RunRequest(
            language=language.id,
            files=[
                FileIn(name=f.name or f"file{index}.code", content=f.content)
                for index, f in enumerate(body.files)
            ],
            stdin=body.stdin,
            args=body.args,
            time_limit=time_limit,
            memory_limit=memory_limit,
        )
        return run_request, {"version": body.version}

    try:
        who = credentials(authorization, address_of(request), guest_id(request))
        submitted = await ctx.runs.submit(who, build, api="piston")
    except (BadRequest, RequestError, NoCapacity) as exc:
        return _refusal(exc)
    assert language is not None
    result = (await asyncio.shield(submitted.done)).result
    return JSONResponse(
        answer(
            result,
            compiled=language.compile is not None,
            output_cap=ctx.settings.output_limit_bytes,
        )
    )
