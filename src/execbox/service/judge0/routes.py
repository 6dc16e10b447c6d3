"""Judge0 CE 1.13.1's routes over execbox's run service: submissions, one or a batch,
made and read (the information routes are :mod:`.info`'s).

The API key goes in ``X-Auth-Token`` (an invalid one is 401); without one the
caller is a guest.  ``/languages``, ``/statuses``, ``/about`` and
``/config_info`` need no key.  A submission made with a key is read with that
key; a guest's is read with its token alone, as in Judge0.  Refusals are
Judge0's bodies (:mod:`.refusals`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from execbox.dispatch import NoCapacity
from execbox.errors import RequestError
from execbox.service.auth import Caller
from execbox.service.context import ServiceContext
from execbox.service.judge0 import callbacks, info
from execbox.service.judge0.callers import AuthToken, caller, context, credentials_of
from execbox.service.judge0.info import language_names, offered_here
from execbox.service.judge0.refusals import error, refusal
from execbox.service.judge0.request import Ceilings, Judge0Invalid, Translated, translate
from execbox.service.judge0.wire import (
    DEFAULT_FIELDS,
    UTF8_BATCH_ERROR,
    UTF8_ERROR,
    InvalidFields,
    NotUtf8,
    render,
    requested_fields,
    run_id_of,
    token_of,
)
from execbox.service.runner import Submitted
from execbox.service.schemas import FileIn, RunRequest
from execbox.store import RunRecord

router = APIRouter(prefix="/judge0", tags=["judge0"])
router.include_router(info.router)
MAX_BATCH = 20


def _flag(value: str | None) -> bool:
    return value == "true"


def _run_request(translated: Translated) -> RunRequest:
    try:
        files = [FileIn(name=f.name, content=f.content.decode("utf-8")) for f in translated.files]
    except UnicodeDecodeError as exc:
        raise Judge0Invalid(
            {"additional_files": ["every file must be UTF-8 text on this server"]}
        ) from exc
    return RunRequest(
        language=translated.language,
        files=files,
        stdin=translated.stdin,
        args=translated.args,
        time_limit=translated.time_limit,
        memory_limit=translated.memory_limit,
        file_size_limit=translated.file_size_kb,
    )


async def _body(request: Request) -> object:
    return _parse(await request.body())


def _parse(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Judge0Invalid({"base": ["the request body is not valid JSON"]}) from exc


async def _ready(ctx: ServiceContext) -> None:
    if not await ctx.readiness.sandbox_ready():
        raise NoCapacity("The sandbox failed its self-test; no runs until it passes.", 30)


def _translate(ctx: ServiceContext, who: Caller, body: object, base64: bool) -> Translated:
    return translate(
        body,
        base64_encoded=base64,
        offered=offered_here(ctx),
        ceilings=Ceilings.of(ctx.settings, who.plan),
        callback_hosts=list(ctx.settings.judge0_callback_hosts),
    )


def _callback_later(request: Request, submitted: Submitted, url: str) -> None:
    ctx = context(request)
    names = language_names(ctx)

    async def call() -> None:
        try:
            await submitted.done
        except Exception:  # the run's own failure is stored and logged by the run service
            return
        record = await ctx.runs.record(submitted.run_id)
        if record is not None:
            body = render(
                record,
                DEFAULT_FIELDS,
                base64_encoded=True,
                language_name=names.get((record.api_request or {}).get("language_id", 0)),
            )
            await callbacks.send(url, body)

    pending: set[asyncio.Task[None]] = request.app.state.__dict__.setdefault(
        "judge0_callbacks", set()
    )
    task = asyncio.create_task(call())
    pending.add(task)
    task.add_done_callback(pending.discard)


def _visible(record: RunRecord | None, who: Caller) -> bool:
    if record is None or record.api != "judge0":
        return False
    return record.subject == who.owner or record.subject.startswith("guest:")


# --- submissions -----------------------------------------------------------------------------


@router.post("/submissions/batch")
async def create_batch(
    request: Request, x_auth_token: AuthToken = None, base64_encoded: str | None = None
) -> JSONResponse:
    """Up to 20 submissions at once; each is its own run (and counts as one)."""
    ctx = context(request)
    try:
        who = await caller(request, x_auth_token)
        body = await _body(request)
        items = body.get("submissions") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return error(400, "there should be at least one submission in a batch")
        if len(items) > MAX_BATCH:
            return error(
                400,
                f"number of submissions in a batch should be less than or equal to {MAX_BATCH}",
            )
        await _ready(ctx)
    except (Judge0Invalid, RequestError, NoCapacity) as exc:
        return refusal(exc)
    answers: list[Any] = []
    first_refusal: JSONResponse | None = None
    accepted = 0
    for item in items:
        translated: Translated | None = None
        try:
            translated = _translate(ctx, who, item, _flag(base64_encoded))
            submitted = await ctx.runs.submit(
                who,
                _run_request(translated),
                api="judge0",
                api_request=translated.stored.dump(),
            )
        except (Judge0Invalid, RequestError, NoCapacity) as exc:
            refused = refusal(exc, translated)
            first_refusal = first_refusal or refused
            answers.append(json.loads(bytes(refused.body)))
            continue
        if translated.callback_url:
            _callback_later(request, submitted, translated.callback_url)
        answers.append({"token": token_of(submitted.run_id)})
        accepted += 1
    if accepted == 0 and first_refusal is not None and first_refusal.status_code != 422:
        return first_refusal
    return JSONResponse(answers, status_code=201 if accepted else 422)


@router.get("/submissions/batch")
async def show_batch(
    request: Request,
    x_auth_token: AuthToken = None,
    tokens: str | None = None,
    base64_encoded: str | None = None,
    fields: str | None = None,
) -> JSONResponse:
    """Up to 20 submissions by token (``null`` for a token that names none of yours)."""
    ctx = context(request)
    try:
        who = await caller(request, x_auth_token)
        names = requested_fields(fields)
    except InvalidFields as exc:
        return error(400, exc.message)
    except RequestError as exc:
        return refusal(exc)
    wanted = [t for t in (request.headers.get("tokens") or tokens or "").strip().split(",") if t]
    if len(wanted) > MAX_BATCH:
        return error(
            400, f"number of submissions in a batch should be less than or equal to {MAX_BATCH}"
        )
    if not wanted:
        return error(400, "there should be at least one submission in a batch")
    names_here = language_names(ctx)
    shown: list[dict[str, Any] | None] = []
    for token in wanted:
        run_id = run_id_of(token)
        record = await ctx.runs.record(run_id) if run_id else None
        if record is None or not _visible(record, who):
            shown.append(None)
            continue
        try:
            shown.append(_show(record, names, _flag(base64_encoded), names_here))
        except NotUtf8:
            return error(400, UTF8_BATCH_ERROR)
    return JSONResponse({"submissions": shown})


def _show(
    record: RunRecord, names: tuple[str, ...], base64: bool, names_by_id: dict[int, str]
) -> dict[str, Any]:
    language_id = int((record.api_request or {}).get("language_id", 0))
    return render(record, names, base64_encoded=base64, language_name=names_by_id.get(language_id))


@router.post("/submissions")
async def create(
    request: Request,
    x_auth_token: AuthToken = None,
    base64_encoded: str | None = None,
    wait: str | None = None,
    fields: str | None = None,
) -> JSONResponse:
    """One submission: answers its token at once, or with ``wait=true`` the finished run."""
    ctx = context(request)
    translated: Translated | None = None
    base64 = _flag(base64_encoded)
    try:
        names = requested_fields(fields)
    except InvalidFields as exc:
        return error(400, exc.message)
    raw = await request.body()
    ready = await ctx.readiness.sandbox_ready()

    def build(who: Caller) -> tuple[RunRequest, dict[str, Any]]:
        # in the admitting transaction, once the caller is known: Judge0's own checks (its
        # ceilings are the plan's), in the order they had with a lookup of their own
        nonlocal translated
        translated = _translate(ctx, who, _parse(raw), base64)
        run_request = _run_request(translated)
        if not ready:
            raise NoCapacity("The sandbox failed its self-test; no runs until it passes.", 30)
        return run_request, translated.stored.dump()

    try:
        submitted = await ctx.runs.submit(
            credentials_of(request, x_auth_token), build, api="judge0"
        )
    except (Judge0Invalid, RequestError, NoCapacity) as exc:
        return refusal(exc, translated)
    assert translated is not None
    if translated.callback_url:
        _callback_later(request, submitted, translated.callback_url)
    token = token_of(submitted.run_id)
    if not _flag(wait):
        return JSONResponse({"token": token}, status_code=201)
    await asyncio.shield(submitted.done)
    record = await ctx.runs.record(submitted.run_id)
    assert record is not None
    try:
        return JSONResponse(_show(record, names, base64, language_names(ctx)), status_code=201)
    except NotUtf8:
        return JSONResponse({"error": UTF8_ERROR, "token": token}, status_code=201)


@router.get("/submissions/{token}")
async def show(
    request: Request,
    token: str,
    x_auth_token: AuthToken = None,
    base64_encoded: str | None = None,
    fields: str | None = None,
) -> JSONResponse:
    """One submission by its token."""
    ctx = context(request)
    try:
        who = await caller(request, x_auth_token)
        names = requested_fields(fields)
    except InvalidFields as exc:
        return error(400, exc.message)
    except RequestError as exc:
        return refusal(exc)
    run_id = run_id_of(token)
    record = await ctx.runs.record(run_id) if run_id else None
    if not _visible(record, who):
        return error(404, "Not Found")
    assert record is not None
    try:
        return JSONResponse(_show(record, names, _flag(base64_encoded), language_names(ctx)))
    except NotUtf8:
        return error(400, UTF8_ERROR)
