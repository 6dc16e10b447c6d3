"""A real execbox server on 127.0.0.1 per test, on SQLite or PostgreSQL.

Most tests use an echoing fake sandbox backend (stdout = stdin) so they test
the service, not the sandbox; ``test_end_to_end.py`` uses the real one.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import uvicorn

from execbox.sandbox.base import StepOutcome, StepSpec, Workspace
from execbox.sandbox.factory import create_backend
from execbox.sandbox.fake import FakeBackend
from execbox.service.app import create_app
from execbox.service.server import uvicorn_config
from execbox.settings import Settings
from tests import scratch
from tests.store.databases import DIALECTS, fresh_database

UID_BASE = 2_400_000 + (os.getpid() % 1000) * 64


class EchoBackend(FakeBackend):
    """The fake, plus: a test program (which prints ``OK``) prints ``OK``, for ``/readyz``."""

    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        outcome = super().run_step(workspace, step)
        files = workspace.handle if isinstance(workspace.handle, dict) else {}
        if not step.stdin and b"OK" in b"".join(files.values()):
            return StepOutcome(**{**outcome.__dict__, "stdout": b"OK\n"})
        return outcome


class Clock:
    """A settable clock for quota days."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """uvicorn serving one app in a thread, configured as ``execbox serve`` configures it;
    ``stop()`` drains it like SIGTERM does."""

    def __init__(self, app: object, settings: Settings | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn_config(
            app,  # type: ignore[arg-type]
            settings or Settings(),
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        self.client = httpx.Client(base_url=self.url, timeout=120)

    def stop(self) -> None:
        self.client.close()
        self.server.should_exit = True
        self.thread.join(timeout=120)
        assert not self.thread.is_alive(), "the server did not stop"


def make_settings(data_dir: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "sandbox_uid_base": UID_BASE,
        "sandbox_uid_count": 64,
        "workers": 2,
        "readiness_cache_s": 0.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def data_dir() -> Iterator[Path]:
    with scratch.data_dir("svc") as path:
        yield path


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime(2030, 5, 17, 23, 59, 0))


StartServer = Callable[..., Server]


@pytest.fixture
def start_server(data_dir: Path, database_url: str, clock: Clock) -> Iterator[StartServer]:
    """``start_server(backend=None | "real" | a backend, **settings)``: a server, stopped after."""
    servers: list[Server] = []

    def start(backend: object = None, **overrides: object) -> Server:
        settings = make_settings(data_dir, database_url, **overrides)
        if backend == "real":
            backend = create_backend(settings)
        elif "selftest" not in overrides:
            # the fake runs nothing, so it cannot pass the sandbox self-test
            settings = settings.model_copy(update={"selftest": False})
        app = create_app(settings, backend=backend or EchoBackend(), clock=clock)  # type: ignore[arg-type]
        server = Server(app, settings)
        server.settings = settings  # type: ignore[attr-defined]
        servers.append(server)
        return server

    yield start
    for server in servers:
        if server.thread.is_alive():
            server.stop()


@pytest.fixture
def server(start_server: StartServer) -> Server:
    return start_server()


def create_user(server: Server, name: str, plan: str = "free") -> str:
    """A new user's API key, made through the store the server uses."""
    from execbox.store import Database, users, utcnow

    db = Database(server.settings.effective_database_url)  # type: ignore[attr-defined]
    try:
        with db.transaction() as session:
            _, key = users.create(session, name, plan, utcnow())
        return key
    finally:
        db.close()


def set_plan(server: Server, name: str, **changes: object) -> None:
    from execbox.store import Database, plans, utcnow

    db = Database(server.settings.effective_database_url)  # type: ignore[attr-defined]
    try:
        with db.transaction() as session:
            plans.set_plan(session, name, utcnow(), **changes)
    finally:
        db.close()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
