"""The HTTP routes: the run API, the caller's usage and history, health and metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response

from execbox.service.auth import Caller, Credentials, credentials
from execbox.service.context import ServiceContext
from execbox.service.errors import SandboxNotReady, error_response, parse_body
from execbox.service.guests import guest_id
from execbox.service.schemas import (
    ErrorBody,
    LanguageInfo,
    Queued,
    RunDetail,
    RunRequest,
    RunResponse,
    RunSummary,
    Usage,
)

router = APIRouter()

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": text}
    for status, text in {
        400: "The body is not valid JSON.",
        401: "The API key is not valid, or guests are off and none was sent.",
        403: "The plan does not allow this language, or allows no runs at all.",
        413: "The code is larger than the plan allows, or the body is too large.",
        422: "A field is missing or invalid; an unknown language lists the supported ones.",
        429: "The plan's daily runs are used up (Retry-After set).",
        503: "No capacity right now (Retry-After set).",
    }.items()
}


async def context(request: Request) -> ServiceContext:
    # async: FastAPI runs a plain function dependency in a worker thread (a hop per request)
    ctx: ServiceContext = request.app.state.execbox
    return ctx


Context = Annotated[ServiceContext, Depends(context)]


def address_of(request: Request) -> str:
    # a forwarded address is whatever a proxy passed on: bound it before it becomes a key
    return (request.client.host if request.client else "unknown")[:100]


async def caller(
    request: Request,
    ctx: Context,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Caller:
    return await ctx.runs.identify(authorization, address_of(request), guest_id(request))


CallerDep = Annotated[Caller, Depends(caller)]


async def caller_credentials(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Credentials:
    """The caller as the request names it; the database is asked in the transaction that
    admits the run (one transaction, not two)."""
    return credentials(authorization, address_of(request), guest_id(request))


CredentialsDep = Annotated[Credentials, Depends(caller_credentials)]


async def _run_request(request: Request, who: Credentials, ctx: ServiceContext) -> RunRequest:
    """The body as a run request, once the sandbox is ready; a refusal here (400, 422, 503)
    comes after the caller is known, so a bad key answers 401 whatever the body says."""
    try:
        body = parse_body(RunRequest, await request.body())
        if not await ctx.readiness.sandbox_ready():
            raise SandboxNotReady(
                "The sandbox failed its self-test; no runs until it passes (see /readyz).", 30
            )
    except Exception:
        await ctx.runs.identify_credentials(who)
        raise
    return body


@router.post(
    "/api/editor/run",
    response_model=RunResponse,
    responses=_ERRORS,
    tags=["runs"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RunRequest.model_json_schema()}},
        }
    },
)
async def run(request: Request, who: CredentialsDep, ctx: Context) -> JSONResponse:
    """Run a program in a fresh sandbox and answer with its result and the caller's usage.

    The body is read as JSON whatever its declared content type (``curl -d`` sends
    a form type), so a client gets a 400 for bad JSON rather than a puzzling 422.
    """
    body = await _run_request(request, who, ctx)
    result = await ctx.runs.run(who, body)
    return JSONResponse(result.model_dump(mode="json", by_alias=True))


@router.post(
    "/api/runs",
    status_code=202,
    response_model=Queued,
    responses=_ERRORS,
    tags=["runs"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": RunRequest.model_json_schema()}},
        }
    },
)
async def submit_run(request: Request, who: CredentialsDep, ctx: Context) -> JSONResponse:
    """Accept a run (the body of ``POST /api/editor/run``, with the same checks) and answer
    202 at once; ``GET /api/runs/{runId}`` shows it ``queued``, ``running``, then final."""
    body = await _run_request(request, who, ctx)
    queued = await ctx.runs.submit_async(who, body)
    answer = Queued(run_id=queued.run_id, usage=Usage.of(queued.caller.plan, queued.runs_today))
    return JSONResponse(answer.model_dump(mode="json", by_alias=True), status_code=202)


@router.get("/api/languages", response_model=list[LanguageInfo], tags=["runs"])
async def languages(ctx: Context) -> JSONResponse:
    """The languages this server can run."""
    return JSONResponse([info.model_dump(by_alias=True) for info in ctx.languages])


@router.get("/api/usage", response_model=Usage, responses=_ERRORS, tags=["account"])
async def usage(who: CallerDep, ctx: Context) -> JSONResponse:
    """The caller's runs today against their plan's daily limit."""
    return JSONResponse(ctx.runs.usage(who).model_dump(by_alias=True))


@router.get("/api/runs", response_model=list[RunSummary], responses=_ERRORS, tags=["account"])
async def recent_runs(
    who: CallerDep, ctx: Context, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> JSONResponse:
    """The caller's recent runs, newest first (a guest's: those of its browser only)."""
    limit = min(limit, ctx.settings.recent_runs_limit)
    summaries = await ctx.runs.recent(who, limit)
    return JSONResponse([summary.model_dump(by_alias=True) for summary in summaries])


@router.get("/api/runs/{run_id}", response_model=RunDetail, responses=_ERRORS, tags=["account"])
async def one_run(run_id: str, who: CallerDep, ctx: Context) -> JSONResponse:
    """One of the caller's runs with its code, stdin and result."""
    detail = await ctx.runs.detail(who, run_id)
    return JSONResponse(detail.model_dump(mode="json", by_alias=True))


@router.get("/healthz", tags=["operations"])
async def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", tags=["operations"])
async def readyz(ctx: Context) -> JSONResponse:
    """A sandbox can run a program now and the database answers (cached a few seconds)."""
    readiness = await ctx.readiness.check()
    if readiness.ready:
        return JSONResponse({"status": "ready", "checks": readiness.checks})
    failed = "; ".join(f"{k} {v}" for k, v in readiness.checks.items() if v != "ok")
    response = error_response(503, "not_ready", f"Not ready: {failed}.", retry_after=5)
    return response


@router.get("/metrics", tags=["operations"])
async def metrics(ctx: Context) -> Response:
    """Prometheus metrics."""
    return Response(ctx.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")
