"""Two guests in two browsers behind one address: each editor lists only its own runs.

Both browsers reach the server from 127.0.0.1, as two pupils behind a school's NAT
would; the server tells them apart by the guest-id cookie it set on each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .conftest import CHROMIUM_ARGS, Server
from .test_editor_page import _choose, _field, _open, _run, _write

if TYPE_CHECKING:
    from playwright.sync_api import Page, Playwright

pytestmark = pytest.mark.browser


@contextmanager
def _browser(driver: Playwright, chromium_path: str, profile: Path) -> Iterator[Page]:
    context = driver.chromium.launch_persistent_context(
        str(profile), executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
    )
    context.set_default_timeout(30_000)
    try:
        yield context.new_page()
    finally:
        context.close()


def _listed_code(page: Page) -> list[str]:
    page.click("#runs-refresh")
    page.wait_for_function(
        "document.querySelector('#runs-note').textContent !== '' "
        "|| document.querySelectorAll('#runs button[data-run-id]').length > 0"
    )
    return [text.strip() for text in page.locator("#runs .run-code").all_text_contents()]


def test_two_guests_behind_one_address_each_see_only_their_own_runs(
    playwright_driver: object, chromium_path: str, server: Server, tmp_path: Path
) -> None:
    from playwright.sync_api import Playwright

    assert isinstance(playwright_driver, Playwright)
    with (
        _browser(playwright_driver, chromium_path, tmp_path / "first") as first,
        _browser(playwright_driver, chromium_path, tmp_path / "second") as second,
    ):
        for page, secret in ((first, "first-guest-secret"), (second, "second-guest-secret")):
            _open(page, server)
            _choose(page, "bash")
            _write(page, f"echo {secret}\n")
            _run(page)
            assert _field(page, "stdout") == f"{secret}\n"  # it ran, as a guest
        assert _listed_code(first) == ["echo first-guest-secret"]
        assert _listed_code(second) == ["echo second-guest-secret"]
        cookies = first.context.cookies()
        guest = [cookie for cookie in cookies if cookie["name"] == "execbox_guest"]
        assert guest and guest[0]["httpOnly"] is True
        assert first.evaluate("document.cookie") == ""  # the page's script cannot read it
