"""Judge0 CE 1.13.1's routes over execbox's run service.

The API key goes in ``X-Auth-Token`` (an invalid one is 401); without one the
caller is a guest.  ``/languages``, ``/statuses``, ``/about`` and
``/config_info`` need no key.  A submission made with a key is read with that
key; a guest's is read with its token alone, as in Judge0.  Refusals are
Judge0's bodies: 422 ``{"field": ["message"]}`` for invalid submissions, and
``{"error": "message"}`` with execbox's status for the rest.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import JSONResponse

from execbox.dispatch import NoCapacity
from execbox.errors import InvalidInput, InvalidLimits, RequestError, UnknownLanguage
from execbox.service.auth import Caller, Credentials, credentials
from execbox.service.context import ServiceContext
from execbox.service.errors import CodeTooLarge, QuotaExceeded, http_status
from execbox.service.guests import guest_id
from execbox.service.judge0 import callbacks
from execbox.service.judge0.archive import ArchiveTooLarge
from execbox.service.judge0.catalog import STATUSES, VERSION, Offered, offered
from execbox.service.judge0.request import (
    Ceilings,
    Judge0Invalid,
    Translated,
    about,
    config_info,
    translate,
)
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
from execbox.service.routes import address_of
from execbox.service.routes import caller as identify_caller
from execbox.service.runner import Submitted
from execbox.service.schemas import FileIn, RunRequest
from execbox.store import RunRecord

router = APIRouter(prefix="/judge0", tags=["judge0"])
MAX_BATCH = 20

_FIELD_NAMES = {
    "code": "source_code",
    "language": "language_id",
    "args": "command_line_arguments",
    "timeLimit": "cpu_time_limit",
    "memoryLimit": "memory_limit",
}

AuthToken = Annotated[str | None, Header(alias="X-Auth-Token", include_in_schema=False)]


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.execbox
    return ctx


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _authorization(token: str | None) -> str | None:
    if token is not None and not token.strip():
        return "Bearer"  # an empty key is an invalid key, not a guest
    return f"Bearer {token.strip()}" if token else None


async def _caller(request: Request, token: str | None) -> Caller:
    """The caller, in a transaction of its own (the routes that start no run)."""
    return await identify_caller(request, _ctx(request), authorization=_authorization(token))


def _credentials(request: Request, token: str | None) -> Credentials:
    """The caller as the request names it, looked up in the transaction that admits the run."""
    return credentials(_authorization(token), address_of(request), guest_id(request))


def _offered(ctx: ServiceContext) -> dict[int, Offered]:
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


def _flag(value: str | None) -> bool:
    return value == "true"


def _refusal(exc: Exception, translated: Translated | None = None) -> JSONResponse:
    """An execbox refusal as Judge0 shows it."""
    if isinstance(exc, Judge0Invalid):
        return JSONResponse(exc.errors, status_code=422)
    if isinstance(exc, NoCapacity):
        return _error(503, exc.message, exc.retry_after_s)
    if isinstance(exc, QuotaExceeded):
        return _error(429, exc.message, exc.retry_after_s)
    if isinstance(exc, ArchiveTooLarge):
        return _error(413, f"additional_files {exc.message}")
    if isinstance(exc, InvalidInput | InvalidLimits | UnknownLanguage):
        name = exc.field or "base"
        if name == "files":
            has_extra = translated is not None and translated.had_additional_files
            name = "additional_files" if has_extra else "source_code"
        return JSONResponse({_FIELD_NAMES.get(name, name): [exc.message]}, status_code=422)
    if isinstance(exc, CodeTooLarge):
        return _error(413, exc.message)
    assert isinstance(exc, RequestError)
    return _error(http_status(exc), exc.message)


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
        offered=_offered(ctx),
        ceilings=Ceilings.of(ctx.settings, who.plan),
        callback_hosts=list(ctx.settings.judge0_callback_hosts),
    )


def _callback_later(request: Request, submitted: Submitted, url: str) -> None:
    ctx = _ctx(request)
    names = _names(ctx)

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


def _names(ctx: ServiceContext) -> dict[int, str]:
    return {number: offer.name for number, offer in _offered(ctx).items()}


def _visible(record: RunRecord | None, who: Caller) -> bool:
    if record is None or record.api != "judge0":
        return False
    return record.subject == who.owner or record.subject.startswith("guest:")


# --- information --------------------------------------------------------------------------


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
    items = sorted(_offered(_ctx(request)).values(), key=lambda o: (o.name, o.language.id))
    return JSONResponse([{"id": o.language.id, "name": o.name} for o in items])


@router.get("/languages/{language_id}")
async def language(request: Request, language_id: str) -> JSONResponse:
    """One language id with its source file and commands."""
    offer = _offered(_ctx(request)).get(int(language_id)) if language_id.isdigit() else None
    if offer is None:
        return _error(404, f"language with id {language_id} doesn't exist")
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
    ctx = _ctx(request)
    plan = None
    if x_auth_token:
        try:
            plan = (await _caller(request, x_auth_token)).plan
        except RequestError as exc:
            return _refusal(exc)
    ceilings = Ceilings.of(ctx.settings, plan)
    return JSONResponse(
        config_info(ctx.settings, ceilings, callbacks=bool(ctx.settings.judge0_callback_hosts))
    )


@router.get("/system_info")
async def system_info(request: Request, x_auth_token: AuthToken = None) -> JSONResponse:
    """The host, as Judge0 describes it."""
    try:
        await _caller(request, x_auth_token)
    except RequestError as exc:
        return _refusal(exc)
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
    ctx = _ctx(request)
    try:
        await _caller(request, x_auth_token)
    except RequestError as exc:
        return _refusal(exc)
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


# --- submissions -----------------------------------------------------------------------------


@router.post("/submissions/batch")
async def create_batch(
    request: Request, x_auth_token: AuthToken = None, base64_encoded: str | None = None
) -> JSONResponse:
    """Up to 20 submissions at once; each is its own run (and counts as one)."""
    ctx = _ctx(request)
    try:
        who = await _caller(request, x_auth_token)
        body = await _body(request)
        items = body.get("submissions") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            return _error(400, "there should be at least one submission in a batch")
        if len(items) > MAX_BATCH:
            return _error(
                400,
                f"number of submissions in a batch should be less than or equal to {MAX_BATCH}",
            )
        await _ready(ctx)
    except (Judge0Invalid, RequestError, NoCapacity) as exc:
        return _refusal(exc)
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
            refusal = _refusal(exc, translated)
            first_refusal = first_refusal or refusal
            answers.append(json.loads(bytes(refusal.body)))
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
    ctx = _ctx(request)
    try:
        who = await _caller(request, x_auth_token)
        names = requested_fields(fields)
    except InvalidFields as exc:
        return _error(400, exc.message)
    except RequestError as exc:
        return _refusal(exc)
    wanted = [t for t in (request.headers.get("tokens") or tokens or "").strip().split(",") if t]
    if len(wanted) > MAX_BATCH:
        return _error(
            400, f"number of submissions in a batch should be less than or equal to {MAX_BATCH}"
        )
    if not wanted:
        return _error(400, "there should be at least one submission in a batch")
    language_names = _names(ctx)
    shown: list[dict[str, Any] | None] = []
    for token in wanted:
        run_id = run_id_of(token)
        record = await ctx.runs.record(run_id) if run_id else None
        if record is None or not _visible(record, who):
            shown.append(None)
            continue
        try:
            shown.append(_show(record, names, _flag(base64_encoded), language_names))
        except NotUtf8:
            return _error(400, UTF8_BATCH_ERROR)
    return JSONResponse({"submissions": shown})


def _show(
    record: RunRecord, names: tuple[str, ...], base64: bool, language_names: dict[int, str]
) -> dict[str, Any]:
    language_id = int((record.api_request or {}).get("language_id", 0))
    return render(
        record, names, base64_encoded=base64, language_name=language_names.get(language_id)
    )


@router.post("/submissions")
async def create(
    request: Request,
    x_auth_token: AuthToken = None,
    base64_encoded: str | None = None,
    wait: str | None = None,
    fields: str | None = None,
) -> JSONResponse:
    """One submission: answers its token at once, or with ``wait=true`` the finished run."""
    ctx = _ctx(request)
    translated: Translated | None = None
    base64 = _flag(base64_encoded)
    try:
        names = requested_fields(fields)
    except InvalidFields as exc:
        return _error(400, exc.message)
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
        submitted = await ctx.runs.submit(_credentials(request, x_auth_token), build, api="judge0")
    except (Judge0Invalid, RequestError, NoCapacity) as exc:
        return _refusal(exc, translated)
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
        return JSONResponse(_show(record, names, base64, _names(ctx)), status_code=201)
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
    ctx = _ctx(request)
    try:
        who = await _caller(request, x_auth_token)
        names = requested_fields(fields)
    except InvalidFields as exc:
        return _error(400, exc.message)
    except RequestError as exc:
        return _refusal(exc)
    run_id = run_id_of(token)
    record = await ctx.runs.record(run_id) if run_id else None
    if not _visible(record, who):
        return _error(404, "Not Found")
    assert record is not None
    try:
        return JSONResponse(_show(record, names, _flag(base64_encoded), _names(ctx)))
    except NotUtf8:
        return _error(400, UTF8_ERROR)
