"""WebSocket ``/api/ws/run``: a run streamed as the contract's "Streaming runs" says.

The client's first frame is ``{"type": "run", ...}`` (the body of ``POST
/api/editor/run``, plus ``apiKey`` for browsers, which cannot set headers on a
WebSocket).  A refusal is one ``error`` frame carrying the HTTP status and the
error body ``POST /api/editor/run`` would answer, then the socket closes.  An
accepted run is ``started``, its output (``compile``, ``stdout``, ``stderr``)
as it is written, and last its ``result``; meanwhile the client may send
``stdin``, ``stdin_end`` and ``kill``.  A client that leaves stops its run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from execbox.service.auth import credentials
from execbox.service.context import ServiceContext
from execbox.service.errors import (
    InvalidJson,
    Refusal,
    SandboxNotReady,
    refusal_of,
)
from execbox.service.guests import websocket_guest_id
from execbox.service.schemas import RunRequest
from execbox.service.streaming import (
    CLIENT_LEFT,
    SEND_GRACE_S,
    LiveSession,
    finish,
    start_session,
)

log = logging.getLogger(__name__)

router = APIRouter()

TRY_AGAIN_LATER = 1013
NO_STREAMING = "No streaming on this node (runs go to workers): POST /api/editor/run instead."
"""The close reason (at most 123 bytes) where runs cannot stream."""

FIRST_FRAME_TIMEOUT_S = 30.0
"""How long a client may take to send its run message after the handshake."""


@router.websocket("/api/ws/run")
async def ws_run(websocket: WebSocket) -> None:
    ctx: ServiceContext = websocket.app.state.execbox
    await websocket.accept()
    if not ctx.runs.streams:
        # Not a refusal of the run: this node cannot stream at all (its runs go to remote
        # workers).  The socket closes before any frame, so the editor runs over HTTP.
        await _close(websocket, TRY_AGAIN_LATER, NO_STREAMING)
        return
    try:
        session = await _admit(websocket, ctx)
    except _Refused as refused:
        await _send_refusal(websocket, refused.refusal)
        return
    except WebSocketDisconnect:
        return
    await _stream(websocket, session, ctx)


class _Refused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


async def _admit(websocket: WebSocket, ctx: ServiceContext) -> LiveSession:
    try:
        raw = await asyncio.wait_for(_receive_text(websocket), FIRST_FRAME_TIMEOUT_S)
    except TimeoutError:
        raise _Refused(
            Refusal(400, "bad_request", "No run message came within 30 s of connecting.")
        ) from None
    try:
        message = _first_message(raw, ctx.settings.max_body_bytes)
        authorization = websocket.headers.get("authorization")
        api_key = message.get("apiKey")
        if isinstance(api_key, str) and api_key:
            authorization = f"Bearer {api_key}"
        address = (websocket.client.host if websocket.client else "unknown")[:100]
        who = credentials(authorization, address, websocket_guest_id(websocket.scope))
        try:
            request = RunRequest.model_validate(message)
            if not await ctx.readiness.sandbox_ready():
                raise SandboxNotReady(
                    "The sandbox failed its self-test; no runs until it passes (see /readyz).",
                    30,
                )
        except Exception:
            # a bad key is refused as 401 whatever the message says (as over HTTP)
            await ctx.runs.identify_credentials(who)
            raise
        # the caller is looked up in the transaction that admits the run
        return await start_session(ctx.runs, who, request)
    except ValidationError as exc:
        from fastapi.exceptions import RequestValidationError

        refusal = refusal_of(RequestValidationError(exc.errors(include_url=False)))
        assert refusal is not None
        raise _Refused(refusal) from None
    except Exception as exc:
        refusal = refusal_of(exc)
        if refusal is None:
            raise
        raise _Refused(refusal) from None


def _first_message(raw: str, max_bytes: int) -> dict[str, Any]:
    if len(raw.encode(errors="surrogatepass")) > max_bytes:
        raise _Refused(
            Refusal(413, "body_too_large", f"The run message may be at most {max_bytes} bytes.")
        )
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # or nested too deeply
        raise InvalidJson("The run message is not valid JSON.") from exc
    if not isinstance(message, dict) or message.get("type") != "run":
        raise _Refused(
            Refusal(
                422,
                "invalid_request",
                'The first message must be {"type": "run", "language": ..., "code": ...}.',
                field="type",
            )
        )
    return message


async def _receive_text(websocket: WebSocket) -> str:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    text = message.get("text")
    if text is None:
        data = message.get("bytes") or b""
        try:
            return bytes(data).decode()
        except UnicodeDecodeError:
            return "\ufffd"  # not JSON: refused as such
    return str(text)


async def _send_refusal(websocket: WebSocket, refusal: Refusal) -> None:
    frame: dict[str, Any] = {"type": "error", "status": refusal.status}
    if refusal.retry_after is not None:
        frame["retryAfter"] = refusal.retry_after
    error: dict[str, Any] = {"code": refusal.code, "message": refusal.message}
    if refusal.field is not None:
        error["field"] = refusal.field
    frame["error"] = error
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.send_json(frame), SEND_GRACE_S)
        await websocket.close(1000)


async def _stream(websocket: WebSocket, session: LiveSession, ctx: ServiceContext) -> None:
    version = next(
        (info.version for info in ctx.languages if info.id == session.handle.language), None
    )
    started = {
        "type": "started",
        "runId": session.run_id,
        "language": session.handle.language,
        "version": version,
    }

    async def send_output(stage: str, stream: str, text: str) -> None:
        await websocket.send_json(
            {"type": "compile" if stage == "compile" else stream, "data": text}
        )

    async def relay() -> None:
        await websocket.send_json(started)
        await session.relay(send_output)

    relay_task = asyncio.create_task(relay())
    receiver = asyncio.create_task(_receive(websocket, session))
    response = await finish(session, relay_task, receiver)
    if response is None:
        await _close(websocket, 1011)
        return
    frame = {"type": "result", **response.model_dump(mode="json", by_alias=True)}
    try:
        await asyncio.wait_for(websocket.send_json(frame), SEND_GRACE_S)
    except Exception:
        await _close(websocket, 1011)
        return
    await _close(websocket, 1000)


async def _receive(websocket: WebSocket, session: LiveSession) -> None:
    """The client's frames while the run goes on; its leaving stops the run."""
    try:
        while True:
            raw = await _receive_text(websocket)
            try:
                message = json.loads(raw)
            except (ValueError, RecursionError):
                continue  # after "started" the last frame is the result: nothing to answer
            if not isinstance(message, dict):
                continue
            kind = message.get("type")
            if kind == "stdin" and isinstance(message.get("data"), str):
                await session.feed(message["data"].encode(errors="surrogatepass"))
            elif kind == "stdin_end":
                session.end_input()
            elif kind == "kill":
                session.stop()
    except (WebSocketDisconnect, RuntimeError):
        session.stop(CLIENT_LEFT)


async def _close(websocket: WebSocket, code: int, reason: str | None = None) -> None:
    if websocket.client_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        await asyncio.wait_for(websocket.close(code, reason), SEND_GRACE_S)
