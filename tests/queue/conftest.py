"""`execbox api` and `execbox worker` as real processes on the test Redis and PostgreSQL.

Each test gets a queue of its own on the shared test Redis (its keys are deleted after
it, never the whole server's) and a fresh PostgreSQL database.  Processes are started
with the installed ``execbox`` command and stopped (SIGTERM, then SIGKILL) after the test.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis

from tests.anyone import execbox_command_for_anyone
from tests.service.conftest import free_port
from tests.store.databases import ROOT, fresh_database

EXECBOX = str(Path(__file__).resolve().parents[2] / ".venv" / "bin" / "execbox")
UID_BASE = 2_600_000 + (os.getpid() % 1000) * 64
NOBODY = 65534


def _die_with_pytest() -> None:
    """SIGKILL when the test session goes (an interrupted run leaves no process behind)."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def test_redis_url() -> str | None:
    url = os.environ.get("EXECBOX_TEST_REDIS_URL")
    env_file = ROOT / ".test-services.env"
    if not url and env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "EXECBOX_TEST_REDIS_URL" and value.strip():
                url = value.strip()
    return url


test_redis_url.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture
def redis_url() -> str:
    url = test_redis_url()
    if url is None:
        message = "no Redis for tests: run scripts/test-services"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def queue_name(redis_url: str) -> Iterator[str]:
    name = f"t{uuid.uuid4().hex[:12]}"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"saq:{name}:*", f"saq:job:{name}:*", f"execbox:{name}:*"):
            for key in client.scan_iter(match=pattern, count=500):
                client.delete(key)
    finally:
        client.close()


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with fresh_database("postgresql", tmp_path) as url:
        yield url


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    url: str | None = None
    client: httpx.Client | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def http(self) -> httpx.Client:
        assert self.client is not None, f"{self.name} serves no HTTP"
        return self.client

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        self.popen.send_signal(signum)

    def wait(self, timeout: float) -> int:
        return self.popen.wait(timeout=timeout)

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=30)


class Cluster:
    """Start `execbox api` / `execbox worker` processes sharing one queue and database."""

    def __init__(self, redis_url: str, queue_name: str, database_url: str, tmp: Path) -> None:
        self.redis_url = redis_url
        self.queue_name = queue_name
        self.database_url = database_url
        self.tmp = tmp
        # under /var/tmp: sandbox users must traverse to their run directories
        self.data_dir = Path(tempfile.mkdtemp(prefix="execbox-q-", dir="/var/tmp"))
        self.procs: list[Proc] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith("EXECBOX_") and key not in {"PYTEST_CURRENT_TEST"}
        }
        env.update(
            EXECBOX_REDIS_URL=self.redis_url,
            EXECBOX_QUEUE_NAME=self.queue_name,
            EXECBOX_DATABASE_URL=self.database_url,
            EXECBOX_DATA_DIR=str(self.data_dir),
            EXECBOX_SANDBOX_UID_BASE=str(UID_BASE),
            EXECBOX_SANDBOX_UID_COUNT="64",
            EXECBOX_JOB_HEARTBEAT_S="2",
            EXECBOX_QUEUE_SWEEP_S="1",
            EXECBOX_QUEUE_RECONCILE_S="3",
            EXECBOX_WORKER_REPORT_S="1",
            EXECBOX_RESULT_POLL_S="1",
        )
        env.update(extra)
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> Proc:
        log = self.tmp / f"{name}-{len(self.procs)}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_pytest,
            )
        proc = Proc(name, popen, log)
        self.procs.append(proc)
        return proc

    def api(self, *, user: int | None = None, **extra: str) -> Proc:
        port = free_port()
        command = [EXECBOX] if user is None else list(execbox_command_for_anyone())
        argv = [*command, "api", "--host", "127.0.0.1", "--port", str(port)]
        env = self.env(**extra)
        if user is not None:
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *argv]
            env["HOME"] = "/nonexistent"
        proc = self._spawn("api", argv, env)
        proc.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(proc.url + "/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.popen.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"execbox api did not start:\n{proc.output()}")
            time.sleep(0.1)
        proc.client = httpx.Client(base_url=proc.url, timeout=120)
        return proc

    def worker(self, concurrency: int = 2, *, wait: bool = True, **extra: str) -> Proc:
        argv = [EXECBOX, "worker", "--concurrency", str(concurrency)]
        proc = self._spawn("worker", argv, self.env(**extra))
        if wait:
            deadline = time.monotonic() + 120
            while "taking runs" not in proc.output():
                if proc.popen.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"execbox worker did not start:\n{proc.output()}")
                time.sleep(0.1)
        return proc

    def user_key(self, name: str, plan: str = "pro") -> str:
        from execbox.store import Database, plans, users, utcnow

        db = Database(self.database_url)
        try:
            db.migrate()
            with db.transaction() as session:
                plans.ensure_builtin(session, utcnow())
                _, key = users.create(session, name, plan, utcnow())
            return key
        finally:
            db.close()

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def cluster(redis_url: str, queue_name: str, pg_url: str, tmp_path: Path) -> Iterator[Cluster]:
    if os.geteuid() != 0:
        pytest.skip("workers run the native sandbox: root needed")
    made = Cluster(redis_url, queue_name, pg_url, tmp_path)
    try:
        yield made
    finally:
        made.stop()


def wait_final(
    client: httpx.Client, run_id: str, key: str, timeout: float = 120
) -> dict[str, object]:
    """Poll ``GET /api/runs/{run_id}`` until the run is final; its body."""
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, object] = client.get(
            f"/api/runs/{run_id}", headers={"Authorization": f"Bearer {key}"}
        ).json()
        if body.get("status") not in ("queued", "running"):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} is not final after {timeout} s: {body}")
        time.sleep(0.1)


Waiter = Callable[..., dict[str, object]]
