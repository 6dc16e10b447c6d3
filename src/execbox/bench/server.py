"""An ``execbox serve`` of the benchmark's own: a fresh data dir (embedded SQLite), a plan
and a user with room for every run, on a free loopback port; stopped (SIGTERM, drained)
at the end."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from execbox.bench.modes import BenchError
from execbox.bench.quiet import wait_quiet

START_TIMEOUT_S = 60.0
PLAN = "bench"
PLAN_RUNS = 1_000_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _execbox() -> str:
    beside = Path(sys.executable).with_name("execbox")
    return str(beside) if beside.exists() else shutil.which("execbox") or "execbox"


class BenchServer:
    """``with BenchServer(...) as server: server.post(body)``; ``pid`` is the service's."""

    def __init__(self, *, uid_base: int, uid_count: int, workers: int | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="execbox-bench-", dir="/var/tmp"))
        self.data_dir.chmod(0o711)  # the sandbox user must traverse it
        self.env = {
            # The caller's settings, but a database of its own (not a shared PostgreSQL).
            **{k: v for k, v in os.environ.items() if k != "EXECBOX_DATABASE_URL"},
            "EXECBOX_DATA_DIR": str(self.data_dir),
            "EXECBOX_SANDBOX_UID_BASE": str(uid_base),
            "EXECBOX_SANDBOX_UID_COUNT": str(uid_count),
        }
        if workers is not None:
            self.env["EXECBOX_WORKERS"] = str(workers)
        self.port = _free_port()
        self._proc: subprocess.Popen[bytes] | None = None
        self._client: httpx.Client | None = None
        self._log = (self.data_dir / "serve.log").open("wb")

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def _cli(self, *args: str) -> str:
        done = subprocess.run(
            [_execbox(), *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        if done.returncode != 0:
            raise BenchError(f"execbox {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def __enter__(self) -> BenchServer:
        try:
            self._cli("plans", "set", PLAN, "--daily-runs", str(PLAN_RUNS))
            key = self._cli("users", "create", "bench", "--plan", PLAN).strip().splitlines()[-1]
            self._proc = subprocess.Popen(
                [_execbox(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=self._log,
                stderr=subprocess.STDOUT,
            )
            self._client = httpx.Client(
                base_url=f"http://127.0.0.1:{self.port}",
                timeout=120,
                headers={"Authorization": f"Bearer {key}"},
                limits=httpx.Limits(max_connections=64, max_keepalive_connections=64),
            )
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._client is not None and self._proc is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BenchError(f"execbox serve exited: {self.log_tail()}")
            try:
                if self._client.get("/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise BenchError(f"execbox serve did not start in {START_TIMEOUT_S:.0f} s")

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        assert self._client is not None
        answer = self._client.post("/api/editor/run", json=body)
        if answer.status_code != 200:
            raise BenchError(f"POST /api/editor/run: {answer.status_code} {answer.text[:300]}")
        parsed: dict[str, Any] = answer.json()
        return parsed

    def settle(self) -> None:
        """Wait until the service and its sandboxes are quiet (a run's teardown, warm
        sandboxes started in its place: see :mod:`execbox.bench.quiet`)."""
        wait_quiet(self.pid)

    def rss_mb(self) -> float:
        """The service process's resident memory, MB."""
        with open(f"/proc/{self.pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0

    def log_tail(self, chars: int = 2000) -> str:
        self._log.flush()
        return (self.data_dir / "serve.log").read_text(errors="replace")[-chars:]

    def stop(self) -> int | None:
        """SIGTERM (the service drains), then its exit status."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        return self._proc.returncode

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
