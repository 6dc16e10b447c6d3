"""A container's stdin, stdout and stderr over one attach connection, with the output cap.

The Engine API multiplexes the streams of a non-TTY container into frames (an
8-byte header: stream number, three zero bytes, a big-endian length).  We keep
at most ``cap`` bytes of each stream and, the moment either passes it, ask the
container to stop (``on_limit``), then drop whatever else arrives: the cap is
enforced while reading, so the worker's memory stays small whatever the program
writes.  stdin is fed from a thread so a program that echoes a large input
cannot deadlock against us.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

_HEADER = 8
_STDOUT, _STDERR = 1, 2


@dataclass
class Streams:
    """What was read from one container."""

    stdout: bytearray = field(default_factory=bytearray)
    stderr: bytearray = field(default_factory=bytearray)
    output_limited: bool = False
    deadline_passed: bool = False


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


def read_streams(
    sock: socket.socket, cap: int, deadline: float, on_limit: Callable[[], None]
) -> Streams:
    """Read frames until the container closes the connection or ``deadline`` (monotonic) passes."""
    result = Streams()
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
            return result
        pending += chunk
        while len(pending) >= _HEADER:
            size = int.from_bytes(pending[4:8], "big")
            if len(pending) < _HEADER + size:
                break
            kind = pending[0]
            payload = pending[_HEADER : _HEADER + size]
            del pending[: _HEADER + size]
            target = (
                result.stdout if kind == _STDOUT else result.stderr if kind == _STDERR else None
            )
            if target is None or result.output_limited:
                continue
            room = cap - len(target)
            target += payload[:room]
            if len(payload) > room:
                result.output_limited = True
                on_limit()
