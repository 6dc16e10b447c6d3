"""What every streaming protocol shares: admission, output as text, input, the end of a run.

A protocol module (``/api/ws/run``, Piston's ``/api/v2/connect``) parses its
own frames and says how to write them; this module admits the run through the
:class:`RunService` (the same checks, quota and run log as ``POST
/api/editor/run``), relays its output as it is written, feeds it input, stops
it on request or when the client leaves, and hands back its stored result.

Output reaches the event loop from the worker thread as bytes, per stream, in
the order it was read; it is sent as text, decoded per stream so that a piece
never splits a UTF-8 character (joined, the pieces are exactly the result's
text).  Memory stays bounded whatever the client does: the backend passes on
only what the output cap kept, and input waits in the live run's bounded buffer
(past it the client is read no further).  A client that stops reading cannot
hold the run: the run ends at its own limits and is stored; the last frames get
``SEND_GRACE_S`` to leave, then the socket is closed.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from execbox.results import RunResult
from execbox.service.auth import Caller, Credentials
from execbox.service.runner import LiveHandle, RunService
from execbox.service.schemas import RunRequest, RunResponse, Usage

log = logging.getLogger(__name__)

SEND_GRACE_S = 10.0
"""How long the last frames of an ended run may take to leave before the socket is closed."""
FRAME_BYTES = 1 << 16
"""Output read at once is sent in pieces of at most this many bytes."""
INPUT_WAIT_S = 0.05

CLIENT_LEFT = "Stopped: the client disconnected."
STOPPED = "Stopped on request."

SendOutput = Callable[[str, str, str], Awaitable[None]]
"""``send(stage, stream, text)``: one piece of output of the ``compile`` or ``run`` step's
``stdout`` or ``stderr``."""
SendStage = Callable[[str], Awaitable[None]]
"""``on_stage(stage)``: the ``compile`` or ``run`` step starts."""


@dataclass
class LiveSession:
    """One accepted streaming run as a protocol handler drives it."""

    handle: LiveHandle
    queue: asyncio.Queue[tuple[str, bytes]]
    caller: Caller
    runs: RunService

    @property
    def run_id(self) -> str:
        return self.handle.run_id

    async def feed(self, data: bytes) -> None:
        """Input for the program; waits while the live run's input buffer is full."""
        while not self.handle.live.feed(data):
            if self.handle.result.done():
                return
            await asyncio.sleep(INPUT_WAIT_S)

    def end_input(self) -> None:
        self.handle.live.end_input()

    def stop(self, reason: str = STOPPED) -> None:
        self.handle.live.stop(reason)

    async def relay(self, send: SendOutput, on_stage: SendStage | None = None) -> None:
        """Send output as it comes until the run has ended and all of it is sent."""
        decoders: dict[tuple[str, str], codecs.IncrementalDecoder] = {}
        stage = "run"
        result = self.handle.result
        while True:
            if result.done() and self.queue.empty():
                break
            getter = asyncio.ensure_future(self.queue.get())
            done, _ = await asyncio.wait({getter, result}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                continue
            pieces = [getter.result()]
            while not self.queue.empty():
                pieces.append(self.queue.get_nowait())
            for stream, data in _coalesce(pieces):
                if stream == "stage":
                    await _flush(decoders, send)
                    stage = data.decode()
                    if on_stage is not None:
                        await on_stage(stage)
                    continue
                decoder = decoders.setdefault((stage, stream), _decoder())
                text = decoder.decode(data)
                if text:
                    await send(stage, stream, text)
        await _flush(decoders, send)

    async def result(self) -> RunResponse:
        """The run's stored result; a service failure is an ``internal_error`` result."""
        try:
            return await asyncio.shield(self.handle.result)
        except Exception:
            log.exception("streaming run %s failed inside the service", self.run_id)
            failed = RunResult.internal_error(
                self.handle.language, "The service failed running this program."
            )
            return RunResponse.of(
                self.run_id, failed, usage=Usage.of(self.caller.plan, self.caller.runs_today + 1)
            )


async def start_session(
    runs: RunService,
    who: Caller | Credentials,
    request: RunRequest,
    *,
    interactive_wall: bool = True,
) -> LiveSession:
    """Admit a streaming run (raises the HTTP API's refusals) and start it; its wall-clock
    limit is the interactive one unless ``interactive_wall`` is false.  ``who``: the caller,
    or its credentials (then looked up in the transaction that admits the run)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    def sink(stream: str, data: bytes) -> None:  # a worker thread
        loop.call_soon_threadsafe(queue.put_nowait, (stream, data))

    handle = await runs.start_live(who, request, sink, interactive_wall=interactive_wall)
    return LiveSession(handle, queue, handle.caller, runs)


async def finish(
    session: LiveSession,
    relay: asyncio.Task[None],
    receiver: asyncio.Task[None],
) -> RunResponse | None:
    """Wait for the run's end, then for its last output to leave (``SEND_GRACE_S``).
    Answers the result, or None when the client is gone or stopped reading."""
    with contextlib.suppress(Exception):
        await asyncio.wait({session.handle.result})
    response: RunResponse | None = await session.result()
    try:
        await asyncio.wait_for(relay, SEND_GRACE_S)
    except Exception:  # timed out (a client that does not read) or the client is gone
        relay.cancel()
        response = None
    finally:
        receiver.cancel()
        with contextlib.suppress(BaseException):
            await receiver
    return response


async def _flush(
    decoders: dict[tuple[str, str], codecs.IncrementalDecoder], send: SendOutput
) -> None:
    """What the decoders hold (a character cut by the step's end), then forget them."""
    for (stage, stream), decoder in decoders.items():
        text = decoder.decode(b"", final=True)
        if text:
            await send(stage, stream, text)
    decoders.clear()


def _decoder() -> codecs.IncrementalDecoder:
    # The same decoding as the result's text (invalid UTF-8 replaced), piece by piece.
    return codecs.getincrementaldecoder("utf-8")(errors="replace")


def _coalesce(pieces: list[tuple[str, bytes]]) -> list[tuple[str, bytes]]:
    """Consecutive pieces of one stream joined, up to ``FRAME_BYTES`` each."""
    merged: list[tuple[str, bytearray]] = []
    for stream, data in pieces:
        if (
            merged
            and stream != "stage"
            and merged[-1][0] == stream
            and len(merged[-1][1]) + len(data) <= FRAME_BYTES
        ):
            merged[-1][1].extend(data)
        else:
            merged.append((stream, bytearray(data)))
    return [(stream, bytes(data)) for stream, data in merged]
