"""A real ``execbox serve`` on a private data dir, and a real headless Chromium to drive it.

Chromium is Debian's (``scripts/setup --test`` installs it), launched by Playwright through
``executable_path``: nothing is downloaded. Outside CI the browser tests skip when Chromium
is missing; in CI (``CI=true``) they fail instead, so they can never silently not run.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests import scratch

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "web"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
START_TIMEOUT_S = 60.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _chromium() -> str | None:
    for candidate in (os.environ.get("EXECBOX_CHROMIUM"), "/usr/bin/chromium"):
        if candidate and Path(candidate).is_file():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Server:
    """A running ``execbox serve`` and the command line pointed at the same data dir."""

    base_url: str
    data_dir: Path
    env: dict[str, str]

    def cli(self, *args: str) -> str:
        """Runs ``execbox ARGS`` against this server's data dir; answers its stdout."""
        done = subprocess.run(
            [str(_execbox()), *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, f"execbox {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
        return done.stdout

    def create_user(self, name: str, plan: str | None = None) -> str:
        """Creates a user and answers its API key (the last line ``users create`` prints)."""
        extra = ["--plan", plan] if plan else []
        return self.cli("users", "create", name, *extra).strip().splitlines()[-1].strip()


def _execbox() -> Path:
    return Path(sys.executable).parent / "execbox"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    path = _chromium()
    if path is None:
        message = "Chromium is not installed (scripts/setup --test installs Debian's chromium)"
        if _in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    data_dir = scratch.make_data_dir("web")
    env = {**os.environ, "EXECBOX_DATA_DIR": str(data_dir)}
    env.pop("EXECBOX_DATABASE_URL", None)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(_execbox()), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_up(process, base_url, log_path)
        srv = Server(base_url=base_url, data_dir=data_dir, env=env)
        # Every test here runs as the same guest (127.0.0.1): give guests room for all of them.
        srv.cli("plans", "set", "guest", "--daily-runs", "1000")
        yield srv
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        scratch.remove_data_dir(data_dir)


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"execbox serve exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    log = log_path.read_text()
    pytest.fail(f"execbox serve was not ready within {START_TIMEOUT_S:.0f} s:\n{log}")


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def page(
    playwright_driver: object, chromium_path: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[object]:
    """A fresh browser profile (so no API key or draft leaks between tests) and one tab."""
    from playwright.sync_api import Playwright

    assert isinstance(playwright_driver, Playwright)
    failed_shot = ARTIFACTS / f"FAILED-{request.node.name}.png"
    failed_shot.unlink(missing_ok=True)
    context = playwright_driver.chromium.launch_persistent_context(
        str(tmp_path / "profile"),
        executable_path=chromium_path,
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(30_000)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        yield tab
        assert not errors, f"the page raised: {errors}"
    finally:
        if getattr(request.node, "rep_call_failed", False):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            tab.screenshot(path=str(failed_shot), full_page=True)
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    report = yield
    if call.when == "call" and getattr(report, "failed", False):
        item.rep_call_failed = True  # type: ignore[attr-defined]
    return report
