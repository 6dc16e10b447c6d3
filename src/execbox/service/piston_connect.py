"""Piston v2's WebSocket ``/piston/api/v2/connect`` on the streaming engine.

Piston's protocol, as its clients expect it: the client sends ``init`` (the
body of ``/api/v2/execute``) within a second of connecting; the server answers
``runtime``, then for each step ``stage``, its output as ``data`` frames on
``stdout``/``stderr``, and ``exit``; the client may send ``data`` on ``stdin``
and a ``signal`` (any signal name ends the run: the sandbox kills the whole
step).  A refusal is an ``error`` frame and close code 4002; the run's end is
close code 4999.  Piston's other close codes: 4000 a second ``init``, 4001 no
``init`` in time, 4003 ``data``/``signal`` before ``init``, 4004 ``data`` on a
stream other than stdin, 4005 an unknown signal.

A run made here is like any other: the same checks, quota and run log as
``POST /api/editor/run`` (key in ``Authorization: Bearer``), through the
:class:`RunService`.  Its wall-clock limit is ``run_timeout`` when the client
gives one, else the interactive limit; a client that leaves stops it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import signal
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState

from execbox.errors import UnknownLanguage
from execbox.limits import MIB
from execbox.service.context import ServiceContext
from execbox.service.errors import SandboxNotReady, refusal_of
from execbox.service.guests import websocket_guest_id
from execbox.service.schemas import RunRequest, RunResponse
from execbox.service.streaming import CLIENT_LEFT, SEND_GRACE_S, LiveSession, finish, start_session

router = APIRouter(prefix="/piston/api/v2")

INIT_TIMEOUT_S = 1.0
"""Piston closes a socket that sent no ``init`` within a second (close code 4001)."""
SIGNALS = frozenset(s.name for s in signal.Signals)

_STATUS = {
    "timeout": "TO",
    "memory_limit": "SG",
    "output_limit": "OL",
    "runtime_error": "RE",
    "internal_error": "XX",
}


class _Closing(Exception):
    """End the connection with Piston's close ``code`` (after an ``error`` frame if
    ``message`` is given)."""

    def __init__(self, code: int, reason: str, message: str | None = None) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason
        self.message = message


@router.websocket("/connect")
async def connect(websocket: WebSocket) -> None:
    ctx: ServiceContext = websocket.app.state.execbox
    await websocket.accept()
    try:
        session, compiled = await _init(websocket, ctx)
    except _Closing as closing:
        await _close(websocket, closing)
        return
    except WebSocketDisconnect:
        return
    await _run(websocket, session, compiled)


async def _init(websocket: WebSocket, ctx: ServiceContext) -> tuple[LiveSession, bool]:
    try:
        message = await asyncio.wait_for(_receive_json(websocket), INIT_TIMEOUT_S)
    except TimeoutError:
        raise _Closing(4001, "Initialization Timeout") from None
    kind = message.get("type")
    if kind in ("data", "signal"):
        raise _Closing(4003, "Not yet initialized")
    if kind != "init":
        raise _Closing(4002, "Notified Error", "the first message must be of type init")
    try:
        request, compiled = _run_request(ctx, message)
        address = (websocket.client.host if websocket.client else "unknown")[:100]
        caller = await ctx.runs.identify(
            websocket.headers.get("authorization"), address, websocket_guest_id(websocket.scope)
        )
        if not await ctx.readiness.sandbox_ready():
            raise SandboxNotReady("The sandbox failed its self-test; no runs until it passes.", 30)
        session = await start_session(
            ctx.runs, caller, request, interactive_wall=request.time_limit is None
        )
    except _Closing:
        raise
    except Exception as exc:
        refusal = refusal_of(exc)
        if refusal is None:
            raise
        raise _Closing(4002, "Notified Error", refusal.message) from None
    return session, compiled


def _run_request(ctx: ServiceContext, body: dict[str, Any]) -> tuple[RunRequest, bool]:
    """Piston's ``init`` as a run request (Piston's own checks and messages first)."""
    language_name, version = body.get("language"), body.get("version")
    if not isinstance(language_name, str) or not language_name:
        raise _Closing(4002, "Notified Error", "language is required as a string")
    if not isinstance(version, str) or not version:
        raise _Closing(4002, "Notified Error", "version is required as a string")
    files = body.get("files")
    if not isinstance(files, list) or not files:
        raise _Closing(4002, "Notified Error", "files is required as an array")
    for index, file in enumerate(files):
        if not isinstance(file, dict) or not isinstance(file.get("content"), str):
            raise _Closing(
                4002, "Notified Error", f"files[{index}].content is required as a string"
            )
    try:
        language = ctx.registry.get(language_name)
    except UnknownLanguage:
        raise _Closing(
            4002, "Notified Error", f"{language_name}-{version} runtime is unknown"
        ) from None
    known = next((i.version for i in ctx.languages if i.id == language.id), None)
    if not _version_matches(version, known):
        raise _Closing(4002, "Notified Error", f"{language_name}-{version} runtime is unknown")
    run_timeout = _number(body, "run_timeout")
    memory = _number(body, "run_memory_limit")
    stdin, args = body.get("stdin", ""), body.get("args", [])
    request = RunRequest.model_validate(
        {
            "language": language.id,
            "code": files[0]["content"],
            "stdin": stdin if stdin is not None else "",
            "args": args if args is not None else [],
            "timeLimit": run_timeout / 1000 if run_timeout and run_timeout > 0 else None,
            # Piston's -1 (what piston-client sends) means the plan's limit
            "memoryLimit": math.ceil(memory / MIB) if memory and memory > 0 else None,
        }
    )
    return request, language.compile is not None


def _number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Closing(4002, "Notified Error", f"If specified, {name} must be a number")
    return float(value)


def _version_matches(asked: str, known: str | None) -> bool:
    """Piston's versions are semver ranges; ``*``, ``x`` parts and prefixes match."""
    if asked in ("*", "latest", "x"):
        return True
    if known is None:
        return False
    asked_parts = asked.split(".")
    known_parts = known.split(".")
    for index, part in enumerate(asked_parts):
        if part in ("x", "*"):
            return True
        if index >= len(known_parts) or part != known_parts[index]:
            return False
    return True


async def _receive_json(websocket: WebSocket) -> dict[str, Any]:
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    raw = message.get("text")
    if raw is None:
        raw = bytes(message.get("bytes") or b"").decode(errors="replace")
    try:
        parsed = json.loads(raw)
    except (ValueError, RecursionError):  # or nested too deeply
        raise _Closing(4002, "Notified Error", "the message is not valid JSON") from None
    if not isinstance(parsed, dict):
        raise _Closing(4002, "Notified Error", "a message is a JSON object")
    return parsed


async def _run(websocket: WebSocket, session: LiveSession, compiled: bool) -> None:
    version = next(
        (
            i.version
            for i in websocket.app.state.execbox.languages
            if i.id == session.handle.language
        ),
        None,
    )

    async def send(frame: dict[str, Any]) -> None:
        await websocket.send_text(json.dumps(frame))

    async def on_stage(stage: str) -> None:
        if stage == "run" and compiled:
            await send({"type": "exit", "stage": "compile", "code": 0, "signal": None})
        await send({"type": "stage", "stage": stage})

    async def send_output(_stage: str, stream: str, text: str) -> None:
        await send({"type": "data", "stream": stream, "data": text})

    async def relay() -> None:
        await send({"type": "runtime", "language": session.handle.language, "version": version})
        await session.relay(send_output, on_stage)

    closing: list[_Closing] = []
    relay_task = asyncio.create_task(relay())
    receiver = asyncio.create_task(_receive(websocket, session, closing))
    response = await finish(session, relay_task, receiver)
    if response is None:
        await _close(websocket, _Closing(1011, "Client too slow"))
        return
    if closing:
        await _close(websocket, closing[0])
        return
    try:
        await asyncio.wait_for(send(_exit_frame(response)), SEND_GRACE_S)
    except Exception:
        await _close(websocket, _Closing(1011, "Client too slow"))
        return
    await _close(websocket, _Closing(4999, "Job Completed"))


def _exit_frame(response: RunResponse) -> dict[str, Any]:
    stage = "compile" if response.status == "compile_error" else "run"
    frame: dict[str, Any] = {
        "type": "exit",
        "stage": stage,
        "code": response.output.exit_code,
        "signal": response.output.signal,
        "message": response.message,
        "status": _STATUS.get(response.status),
    }
    if response.status == "output_limit" and response.truncated:
        frame["status"] = "OL" if len(response.output.stdout.encode()) else "EL"
    return frame


async def _receive(websocket: WebSocket, session: LiveSession, closing: list[_Closing]) -> None:
    """The client's frames while the run goes on; its leaving stops the run."""
    try:
        while True:
            try:
                message = await _receive_json(websocket)
            except _Closing as bad:
                closing.append(bad)
                session.stop(CLIENT_LEFT)
                return
            kind = message.get("type")
            if kind == "init":
                closing.append(_Closing(4000, "Already Initialized"))
            elif kind == "data":
                if message.get("stream") != "stdin":
                    closing.append(_Closing(4004, "Can only write to stdin"))
                elif isinstance(message.get("data"), str):
                    await session.feed(message["data"].encode(errors="surrogatepass"))
                    continue
                else:
                    continue
            elif kind == "signal":
                if message.get("signal") not in SIGNALS:
                    closing.append(_Closing(4005, "Invalid signal"))
                else:
                    session.stop()
                    continue
            else:
                continue
            session.stop(CLIENT_LEFT)  # Piston closes the socket: the run ends with it
            await _close(websocket, closing[0])
            return
    except (WebSocketDisconnect, RuntimeError):
        session.stop(CLIENT_LEFT)


async def _close(websocket: WebSocket, closing: _Closing) -> None:
    if websocket.client_state is WebSocketState.DISCONNECTED:
        return
    with contextlib.suppress(Exception):
        if closing.message is not None:
            await asyncio.wait_for(
                websocket.send_text(json.dumps({"type": "error", "message": closing.message})),
                SEND_GRACE_S,
            )
        await asyncio.wait_for(websocket.close(closing.code, closing.reason), SEND_GRACE_S)
