"""The service's request errors, and the one place every error becomes the contract's body.

    RequestError (execbox.errors)
    ├── InvalidJson       400  the body is not JSON
    ├── Unauthorized      401  a bad key, or no key while guests are off
    ├── PlanForbidden     403  the plan does not allow this language, or any run
    ├── RunNotFound       404  no such run for this caller
    ├── CodeTooLarge      413  code larger than the plan allows
    └── QuotaExceeded     429  the plan's daily runs are used up
    NoCapacity (execbox.errors)    503  every worker busy, queue full
    └── SandboxNotReady            503  the sandbox failed its self-test: no runs
    OperationalError (SQLAlchemy)  503  the database cannot be reached (or dropped us)
    redis ConnectionError          503  the run queue cannot be reached

A body over the server's cap is refused (413) by :mod:`execbox.service.bodylimit`
before any of this runs.

Every response is ``{"error": {"code": slug, "message": sentence}}``; FastAPI's own
validation and HTTP errors are rewritten to the same shape, and an unexpected
exception becomes a 500 with the same body (and a log line), never a traceback.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from execbox.errors import (
    InvalidInput,
    InvalidLimits,
    NoCapacity,
    RequestError,
    UnknownLanguage,
)

log = logging.getLogger(__name__)


class InvalidJson(RequestError):
    """The body is not JSON (400)."""


class Unauthorized(RequestError):
    """A bad key, or no key while guests are off (401)."""


class PlanForbidden(RequestError):
    """The plan does not allow this language, or allows no runs at all (403)."""


class RunNotFound(RequestError):
    """No such run of this caller's (404)."""


class CodeTooLarge(RequestError):
    """The code is larger than the plan allows (413)."""


class QuotaExceeded(RequestError):
    """The plan's daily runs are used up (429, with the seconds until they renew)."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


_SLUGS: dict[type[Exception], tuple[int, str]] = {
    InvalidJson: (400, "invalid_json"),
    Unauthorized: (401, "unauthorized"),
    PlanForbidden: (403, "forbidden"),
    RunNotFound: (404, "not_found"),
    CodeTooLarge: (413, "code_too_large"),
    QuotaExceeded: (429, "quota_exceeded"),
    UnknownLanguage: (422, "unknown_language"),
    InvalidLimits: (422, "invalid_limits"),
    InvalidInput: (422, "invalid_input"),
    RequestError: (422, "invalid_request"),
}

_HTTP_SLUGS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    503: "unavailable",
}


def http_status(exc: RequestError) -> int:
    """The HTTP status the API answers ``exc`` with (the compatible APIs use it too)."""
    return next(status for kind, (status, _) in _SLUGS.items() if isinstance(exc, kind))


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field is not None:
        error["field"] = field
    return {"error": error}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    field: str | None = None,
    retry_after: int | None = None,
) -> JSONResponse:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(error_body(code, message, field), status_code=status, headers=headers)


def _request_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestError)
    status, code = next(v for k, v in _SLUGS.items() if isinstance(exc, k))
    retry = exc.retry_after_s if isinstance(exc, QuotaExceeded) else None
    return error_response(status, code, exc.message, field=exc.field, retry_after=retry)


class SandboxNotReady(NoCapacity):
    """The sandbox failed its self-test; runs are refused rather than run unconfined."""

    code = "sandbox_unavailable"


def _no_capacity(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NoCapacity)
    code = getattr(exc, "code", "no_capacity")
    return error_response(503, code, exc.message, retry_after=exc.retry_after_s)


def _field_name(loc: Sequence[Any]) -> str:
    """The request field an error is about (the top-level name, as the client sent it)."""
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return parts[0] if parts else "body"


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes) -> M:
    """``raw`` as JSON validated into ``model``; 400 for bad JSON, 422 naming the field.

    Every route that takes a JSON body parses it here: nesting deep enough to exhaust the
    parser's recursion (``[[[[...`` a thousand levels, 2 KB) is a 400 like any bad JSON.
    """
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidJson("The request body is not valid JSON.") from exc
    except RecursionError as exc:
        raise InvalidJson("The request body is not valid JSON: it is nested too deeply.") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False)) from exc


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    refused = _validation_refusal(exc)
    return error_response(refused.status, refused.code, refused.message, field=refused.field)


def _validation_refusal(exc: RequestValidationError) -> Refusal:
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return Refusal(400, "invalid_json", "The request body is not valid JSON.")
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    field = _field_name(first.get("loc", ()))
    if first.get("type") == "missing":
        message = f"The field {field!r} is required."
    elif field == "body":
        message = f"The request body is invalid: {first.get('msg', 'invalid')}."
    else:
        message = f"The field {field!r} is invalid: {first.get('msg', 'invalid')}."
    return Refusal(422, "invalid_request", message, field=field)


@dataclass(frozen=True)
class Refusal:
    """A refused request as the HTTP API answers it, for protocols that are not HTTP
    responses (a WebSocket's error frame)."""

    status: int
    code: str
    message: str
    field: str | None = None
    retry_after: int | None = None


def refusal_of(exc: Exception) -> Refusal | None:
    """What the HTTP API would answer for ``exc``; None for an unexpected failure."""
    if isinstance(exc, RequestError):
        status, code = next(v for k, v in _SLUGS.items() if isinstance(exc, k))
        retry = exc.retry_after_s if isinstance(exc, QuotaExceeded) else None
        return Refusal(status, code, exc.message, exc.field, retry)
    if isinstance(exc, NoCapacity):
        return Refusal(
            503, getattr(exc, "code", "no_capacity"), exc.message, retry_after=exc.retry_after_s
        )
    if isinstance(exc, RequestValidationError):
        return _validation_refusal(exc)
    if _database_away(exc):
        return Refusal(
            503, "database_unavailable", "The database is unavailable; try again.", retry_after=5
        )
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return Refusal(
            503,
            "queue_unavailable",
            "The run queue (Redis) is unavailable; try again.",
            retry_after=5,
        )
    return None


def _database_away(exc: Exception) -> bool:
    """The database cannot be reached, or dropped the connection (a restart): not a bug."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = _HTTP_SLUGS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else "The request failed."
    if not message.endswith("."):
        message += "."
    response = error_response(exc.status_code, code, message)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def _database_down(request: Request, exc: Exception) -> JSONResponse:
    log.error("database unavailable serving %s %s: %s", request.method, request.url.path, exc)
    return error_response(
        503, "database_unavailable", "The database is unavailable; try again.", retry_after=5
    )


def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    refusal = refusal_of(exc)  # a database or Redis that went away mid-request: not a bug
    if refusal is not None and refusal.status == 503:
        log.error("%s serving %s %s: %s", refusal.code, request.method, request.url.path, exc)
        return error_response(503, refusal.code, refusal.message, retry_after=refusal.retry_after)
    log.exception("unexpected error serving %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal_error", "The service failed; the error was logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestError, _request_error)
    app.add_exception_handler(NoCapacity, _no_capacity)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_down)
    app.add_exception_handler(Exception, _unexpected)
