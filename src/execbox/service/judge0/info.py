"""What this server offers, as Judge0 describes itself: its languages (the Judge0 ids this
host runs), statuses, version, limits, host and workers."""

from __future__ import annotations

import os
import platform

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from execbox.errors import RequestError
from execbox.service.context import ServiceContext
from execbox.service.judge0.callers import AuthToken, caller, context
from execbox.service.judge0.catalog import STATUSES, VERSION, Offered, offered
from execbox.service.judge0.refusals import error, refusal
from execbox.service.judge0.request import Ceilings, about, config_info

router = APIRouter()
"""Included in the submissions' router (``/judge0``)."""


def offered_here(ctx: ServiceContext) -> dict[int, Offered]:
    """The Judge0 language ids this host runs, each with what runs it."""
    rows = []
    versions = {info.id: info.version for info in ctx.languages}
    for lang in ctx.registry.all():
        rows.append(
            (
                lang.id,
                lang.name,
                versions.get(lang.id),
                lang.source_file,
                " ".join(lang.compile.command) if lang.compile else None,
                " ".join(lang.run),
            )
        )
    return offered(rows)


def language_names(ctx: ServiceContext) -> dict[int, str]:
    """Judge0 language id -> its name here."""
    return {number: offer.name for number, offer in offered_here(ctx).items()}


@router.get("/about")
async def get_about() -> JSONResponse:
    """Judge0's version this API matches."""
    return JSONResponse(about())


@router.get("/statuses")
async def statuses() -> JSONResponse:
    """Judge0's statuses 1-14."""
    return JSONResponse([{"id": k, "description": v} for k, v in STATUSES.items()])


@router.get("/languages")
async def languages(request: Request) -> JSONResponse:
    """Judge0 language ids this host runs, each named after what runs it."""
    items = sorted(offered_here(context(request)).values(), key=lambda o: (o.name, o.language.id))
    return JSONResponse([{"id": o.language.id, "name": o.name} for o in items])


@router.get("/languages/{language_id}")
async def language(request: Request, language_id: str) -> JSONResponse:
    """One language id with its source file and commands."""
    offer = offered_here(context(request)).get(int(language_id)) if language_id.isdigit() else None
    if offer is None:
        return error(404, f"language with id {language_id} doesn't exist")
    return JSONResponse(
        {
            "id": offer.language.id,
            "name": offer.name,
            "is_archived": False,
            "source_file": offer.source_file,
            "compile_cmd": offer.compile_cmd,
            "run_cmd": offer.run_cmd,
        }
    )


@router.get("/config_info")
async def get_config_info(request: Request, x_auth_token: AuthToken = None) -> JSONResponse:
    """Judge0 1.13.1's configuration keys with this server's limits (the caller's plan's,
    when a key is sent)."""
    ctx = context(request)
    plan = None
    if x_auth_token:
        try:
            plan = (await caller(request, x_auth_token)).plan
        except RequestError as exc:
            return refusal(exc)
    ceilings = Ceilings.of(ctx.settings, plan)
    return JSONResponse(
        config_info(ctx.settings, ceilings, callbacks=bool(ctx.settings.judge0_callback_hosts))
    )


@router.get("/system_info")
async def system_info(request: Request, x_auth_token: AuthToken = None) -> JSONResponse:
    """The host, as Judge0 describes it."""
    try:
        await caller(request, x_auth_token)
    except RequestError as exc:
        return refusal(exc)
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next(
                (ln.split(":", 1)[1].strip() for ln in handle if ln.startswith("model name")), ""
            )
    except OSError:
        pass
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return JSONResponse(
        {
            "Architecture": platform.machine(),
            "CPU(s)": str(os.cpu_count() or 1),
            "Model name": model,
            "Mem": f"{pages // (1 << 20)}M",
            "Kernel": platform.release(),
        }
    )


@router.get("/workers")
async def workers(request: Request, x_auth_token: AuthToken = None) -> JSONResponse:
    """The run queue as Judge0 reports its workers."""
    ctx = context(request)
    try:
        await caller(request, x_auth_token)
    except RequestError as exc:
        return refusal(exc)
    waiting = ctx.dispatcher.queue_depth()
    working = max(0, ctx.dispatcher.in_flight() - waiting)
    total = ctx.settings.workers
    return JSONResponse(
        [
            {
                "queue": VERSION,
                "size": waiting,
                "available": total,
                "idle": max(0, total - working),
                "working": working,
                "paused": 0,
                "failed": 0,
            }
        ]
    )
