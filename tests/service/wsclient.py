"""A WebSocket client for the streaming tests: real sockets, frames with their arrival time."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from execbox.sandbox.factory import create_backend
from execbox.service.app import create_app
from tests import scratch
from tests.service.conftest import Server, auth, create_user, make_settings


@dataclass
class Frames:
    """Every frame a client got, with the monotonic time it arrived."""

    got: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    close_code: int | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [frame for _, frame in self.got if frame.get("type") == kind]

    def text(self, kind: str) -> str:
        return "".join(frame["data"] for frame in self.of(kind))

    @property
    def kinds(self) -> list[str]:
        return [str(frame.get("type")) for _, frame in self.got]


class Client:
    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        ws_url = url.replace("http://", "ws://", 1)
        self.conn: ClientConnection = connect(
            ws_url, additional_headers=headers or {}, open_timeout=30, max_size=None
        )
        self.frames = Frames()

    def send(self, **message: Any) -> None:
        self.conn.send(json.dumps(message))

    def next(self, timeout: float = 60) -> dict[str, Any]:
        raw = self.conn.recv(timeout=timeout)
        frame = json.loads(raw)
        assert isinstance(frame, dict)
        self.frames.got.append((time.monotonic(), frame))
        return frame

    def until(self, kind: str, timeout: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            frame = self.next(max(deadline - time.monotonic(), 0.01))
            if frame.get("type") == kind:
                return frame

    def until_text(self, stream: str, needle: str, timeout: float = 120) -> float:
        """When ``needle`` was complete in ``stream``'s frames."""
        deadline = time.monotonic() + timeout
        while needle not in self.frames.text(stream):
            frame = self.next(max(deadline - time.monotonic(), 0.01))
            assert frame.get("type") != "result", f"ended before {needle!r}: {self.frames.got}"
        return self.frames.got[-1][0]

    def rest(self, timeout: float = 120) -> Frames:
        """Every frame until the server closes the socket."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.next(max(deadline - time.monotonic(), 0.01))
        except ConnectionClosed as closed:
            self.frames.close_code = closed.rcvd.code if closed.rcvd else None
        return self.frames

    def close(self) -> None:
        self.conn.close()


def ws_url(base_url: str, path: str = "/api/ws/run") -> str:
    return base_url + path


@pytest.fixture(scope="module", params=["native", pytest.param("docker", marks=pytest.mark.docker)])
def real_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """One server per backend and test module, on a real sandbox; each test is its own user."""
    data_dir = scratch.make_data_dir("ws")
    settings = make_settings(
        data_dir,
        f"sqlite:///{data_dir / 'execbox.db'}",
        backend=str(request.param),
        interactive_time_limit_s=60,
    )
    server = Server(create_app(settings, backend=create_backend(settings)))
    server.settings = settings  # type: ignore[attr-defined]
    try:
        yield server
    finally:
        server.stop()
        scratch.remove_data_dir(data_dir)


@dataclass
class Real:
    """The module's real server as one fresh user sees it."""

    server: Server
    key: str

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def headers(self) -> dict[str, str]:
        return auth(self.key)

    def get(self, path: str) -> dict[str, Any]:
        return dict(self.server.client.get(path, headers=self.headers).json())


@pytest.fixture
def real(real_server: Server) -> Real:
    return Real(real_server, create_user(real_server, f"u{uuid.uuid4().hex[:12]}", plan="pro"))
