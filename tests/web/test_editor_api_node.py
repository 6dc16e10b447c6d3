"""The web editor served by an `execbox api` node: its runs go through Redis to a worker.

Such a node cannot stream (the live channel does not cross processes), so its WebSocket
closes before any frame and the editor runs the program over HTTP instead.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.queue.conftest import (  # noqa: F401  (fixtures of the queue tests)
    Cluster,
    cluster,
    pg_url,
    queue_name,
    redis_url,
)

pytestmark = pytest.mark.browser


def test_the_editor_on_an_api_node_runs_python_on_a_worker(
    page: Page,
    cluster: Cluster,  # noqa: F811  (the queue tests' fixture, imported above)
) -> None:
    cluster.worker(concurrency=1)
    api = cluster.api()
    page.goto(f"{api.url}/")
    page.wait_for_selector("#language:not([disabled])")
    page.wait_for_selector("[data-state=idle]")
    page.select_option("#language", "python")
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text("import os\nprint('from a worker', 6 * 7, os.getuid() != 0)")
    page.click("#run")
    page.wait_for_selector(
        "#result [data-state=result], #result [data-state=error]", timeout=120_000
    )
    assert page.text_content('#result [data-field="stdout"]') == "from a worker 42 True\n"
    assert page.text_content('#result [data-field="status"]') == "Success"
