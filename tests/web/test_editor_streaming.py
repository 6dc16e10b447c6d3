"""The editor's streaming runs in a real Chromium against a real ``execbox serve``: output
as it is written, typing input into a running program, Stop, and the keyboard alone."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import expect

from .conftest import Server
from .test_editor_page import RUN_TIMEOUT_MS, _choose, _field, _open, _screenshot, _write

if TYPE_CHECKING:
    from playwright.sync_api import Page, WebSocketRoute

pytestmark = pytest.mark.browser

LIVE = '#result [data-field="live-output"]'


def test_output_appears_while_the_program_runs_and_takes_typed_input(
    page: Page, server: Server
) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "name = input('What is your name? ')\nprint(f'Hello, {name}!')\n")
    page.click("#run")
    # The prompt is on the page while the program waits for its answer.
    expect(page.locator(LIVE)).to_contain_text("What is your name?", timeout=RUN_TIMEOUT_MS)
    assert page.locator("#result [data-state=result]").count() == 0
    expect(page.get_by_role("button", name="Stop", exact=True)).to_be_visible()
    _screenshot(page, "streaming-prompt")
    page.get_by_label("Program input", exact=True).fill("Ada")
    page.keyboard.press("Enter")
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)
    assert _field(page, "stdout") == "What is your name? Hello, Ada!\n"
    assert page.get_attribute('#result [data-field="status"]', "data-status") == "ok"
    _screenshot(page, "streaming-answered")


def test_stop_ends_a_running_program(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(
        page,
        "import time\nfor i in range(1000):\n"
        "    print('tick', i, flush=True)\n    time.sleep(0.1)\n",
    )
    page.click("#run")
    expect(page.locator(LIVE)).to_contain_text("tick 3", timeout=RUN_TIMEOUT_MS)
    page.get_by_role("button", name="Stop", exact=True).click()
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)
    assert page.get_attribute('#result [data-field="status"]', "data-status") == "runtime_error"
    assert "stopped" in _field(page, "message").lower()
    assert _field(page, "stdout").startswith("tick 0\ntick 1\ntick 2\ntick 3\n")
    assert "tick 999" not in _field(page, "stdout")
    assert page.is_enabled("#run")
    _screenshot(page, "streaming-stopped")


def test_the_stdin_box_is_the_whole_input_as_before(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "import sys\ndata = sys.stdin.read()\nprint(len(data), data.upper())\n")
    page.fill("#stdin", "abc\n")
    page.click("#run")
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)
    assert _field(page, "stdout") == "4 ABC\n\n"


def test_a_running_program_is_answered_and_stopped_from_the_keyboard(
    page: Page, server: Server
) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "while True:\n    print('echo:', input(), flush=True)\n")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#program-input", timeout=RUN_TIMEOUT_MS)
    # From the editor: Esc (twice: the first may only close a completion list typing opened),
    # then Tab through the page to the program's input line.
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "program-input":
            break
    assert page.evaluate("document.activeElement.id") == "program-input"
    page.keyboard.type("one")
    page.keyboard.press("Enter")
    expect(page.locator(LIVE)).to_contain_text("echo: one", timeout=RUN_TIMEOUT_MS)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "stop"
    page.keyboard.press("Enter")
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)
    assert page.get_attribute('#result [data-field="status"]', "data-status") == "runtime_error"
    assert _field(page, "stdout") == "echo: one\n"


def test_a_refused_streaming_run_reads_like_an_http_one(page: Page, server: Server) -> None:
    def refuse(ws: WebSocketRoute) -> None:
        error = {"code": "no_capacity", "message": "Every worker is busy."}
        frame = {"type": "error", "status": 503, "retryAfter": 7, "error": error}

        def answer(_message: str | bytes) -> None:
            ws.send(json.dumps(frame))
            ws.close()

        ws.on_message(answer)

    page.route_web_socket("**/api/ws/run", refuse)
    _open(page, server)
    page.click("#run")
    page.wait_for_selector("#result [data-state=error]", timeout=RUN_TIMEOUT_MS)
    assert _field(page, "error-title") == "The service is busy"
    assert _field(page, "error-hint") == "Try again in 7 seconds."
