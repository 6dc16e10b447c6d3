"""A container's stdin and the init's frames over one attach connection, with the output cap.

The Engine API multiplexes the streams of a non-TTY container into frames (an
8-byte header: stream number, three zero bytes, a big-endian length).  Only the
init writes to the container's stdout and stderr: the program has pipes of its
own, which the init forwards on stdout in frames of its own (one type byte, a
big-endian 32-bit length: 1 program stdout, 2 program stderr, 3 the init's
report, always last; see ``docker/init.c``).  The container's stderr carries the
init's own diagnostics only.  We keep at most ``cap`` bytes of each of the
program's streams and, the moment either passes it, ask the container to stop
(``on_limit``), then drop whatever else the program wrote but still read on to
the report: the cap is enforced while reading, so the worker's memory stays
small whatever the program writes.  stdin is fed from a thread so a program that
echoes a large input cannot deadlock against us.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_HEADER = 8
_STDOUT, _STDERR = 1, 2
_INIT_HEADER = 5
_FRAME_STDOUT, _FRAME_STDERR, _FRAME_REPORT = 1, 2, 3
_MAX_FRAME = 1 << 16
DIAGNOSTICS_CAP = 4096


@dataclass
class Streams:
    """What was read from one container."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output_limited: bool = False
    deadline_passed: bool = False
    report: str | None = None
    """The init's report line; None if the container ended without one."""
    diagnostics: bytearray = field(default_factory=bytearray)
    """What the init itself wrote on the container's stderr (at most a few KiB)."""
    malformed: str | None = None
    """Set when the init's stream broke its framing (never the program's doing)."""


def raw_socket(attached: object) -> socket.socket:
    """The plain socket under what ``APIClient.attach_socket`` returns."""
    sock = getattr(attached, "_sock", attached)
    if not isinstance(sock, socket.socket):
        raise TypeError(f"unexpected attach socket {type(attached).__name__}")
    return sock


def feed_stdin(sock: socket.socket, data: bytes) -> threading.Thread:
    """Write ``data`` then half-close, so the program sees EOF (the container has StdinOnce)."""

    def write() -> None:
        try:
            if data:
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # the program exited without reading all of its input: not an error

    thread = threading.Thread(target=write, name="docker-stdin", daemon=True)
    thread.start()
    return thread


class _InitFrames:
    """Splits the init's stdout into its frames, keeping the program's output up to ``cap``."""

    def __init__(
        self,
        result: Streams,
        cap: int,
        on_limit: Callable[[], None],
        on_output: Callable[[str, bytes], None] | None = None,
    ) -> None:
        self.result = result
        self.cap = cap
        self.on_limit = on_limit
        self.on_output = on_output
        self.pending = bytearray()

    def feed(self, data: bytes | bytearray) -> None:
        result = self.result
        self.pending += data
        while len(self.pending) >= _INIT_HEADER and result.malformed is None:
            kind = self.pending[0]
            size = int.from_bytes(self.pending[1:5], "big")
            if kind not in (_FRAME_STDOUT, _FRAME_STDERR, _FRAME_REPORT) or size > _MAX_FRAME:
                result.malformed = f"frame type {kind} of {size} bytes"
                return
            if len(self.pending) < _INIT_HEADER + size:
                return
            payload = bytes(self.pending[_INIT_HEADER : _INIT_HEADER + size])
            del self.pending[: _INIT_HEADER + size]
            if result.report is not None:
                result.malformed = "a frame after the report"
            elif kind == _FRAME_REPORT:
                result.report = payload.decode("ascii", errors="replace")
            elif not result.output_limited:
                target = result.stdout if kind == _FRAME_STDOUT else result.stderr
                room = self.cap - len(target)
                kept = payload[:room]
                target += kept
                if self.on_output is not None and kept:
                    self.on_output("stdout" if kind == _FRAME_STDOUT else "stderr", kept)
                if len(payload) > room:
                    result.output_limited = True
                    self.on_limit()

    def finish(self) -> None:
        if self.pending and self.result.malformed is None:
            self.result.malformed = f"{len(self.pending)} bytes of a cut frame"


def read_streams(
    sock: socket.socket,
    cap: int,
    deadline: float,
    on_limit: Callable[[], None],
    on_output: Callable[[str, bytes], None] | None = None,
) -> Streams:
    """Read until the container closes the connection or ``deadline`` (monotonic) passes.

    ``on_output(stream, data)`` gets each piece of output that was kept, as it is read."""
    result = Streams()
    frames = _InitFrames(result, cap, on_limit, on_output)
    pending = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            result.deadline_passed = True
            return result
        sock.settimeout(left)
        try:
            chunk = sock.recv(1 << 16)
        except TimeoutError:
            result.deadline_passed = True
            return result
        if not chunk:
            frames.finish()
            return result
        pending += chunk
        while len(pending) >= _HEADER:
            size = int.from_bytes(pending[4:8], "big")
            if len(pending) < _HEADER + size:
                break
            kind = pending[0]
            payload = pending[_HEADER : _HEADER + size]
            del pending[: _HEADER + size]
            if kind == _STDOUT:
                frames.feed(payload)
            elif kind == _STDERR:
                room = DIAGNOSTICS_CAP - len(result.diagnostics)
                result.diagnostics += payload[: max(0, room)]
