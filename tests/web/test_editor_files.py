"""Programs of several files in the editor, in a real Chromium against a real ``execbox serve``:
a user adds, renames and removes files, the first is the entry, Run sends them all (over the
streaming WebSocket and over HTTP), bad names are refused in the page and by the server,
and the files come back from the run history and across a language switch."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import Server
from .test_editor_page import (
    RUN_TIMEOUT_MS,
    _choose,
    _editor_text,
    _field,
    _open,
    _screenshot,
    _use_key,
    _write,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser


def _tab_names(page: Page) -> list[str]:
    names = page.eval_on_selector_all(
        "#file-tabs [role=tab]", "tabs => tabs.map(t => t.dataset.name)"
    )
    assert isinstance(names, list)
    return [str(n) for n in names]


def _selected(page: Page) -> str:
    return str(page.get_attribute("#file-tabs [aria-selected=true]", "data-name"))


def _run(page: Page) -> None:
    """Presses Run and waits for this run's result (not the one already on show)."""
    shown = page.query_selector("#result [data-state]")
    page.click("#run")
    if shown is not None:
        page.wait_for_function("node => !node.isConnected", arg=shown, timeout=RUN_TIMEOUT_MS)
    page.wait_for_selector(
        "#result [data-state=result], #result [data-state=error]", timeout=RUN_TIMEOUT_MS
    )


def _add_file(page: Page, name: str) -> None:
    page.click("#file-add")
    page.fill("#file-name", name)
    page.press("#file-name", "Enter")


def _show(page: Page, name: str) -> None:
    page.click(f'#file-tabs [data-name="{name}"]')
    assert _selected(page) == name


def _run_detail(server: Server, run_id: str, key: str | None = None) -> dict[str, object]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    detail = httpx.get(f"{server.base_url}/api/runs/{run_id}", headers=headers, timeout=30).json()
    assert isinstance(detail, dict)
    return detail


def test_a_python_module_beside_main_py_is_sent_and_imported(page: Page, server: Server) -> None:
    key = server.create_user("web-files")
    _open(page, server)
    _use_key(page, key)
    _choose(page, "python")
    # the entry file is named as Python runs it, and says it is the entry
    assert _tab_names(page) == ["main.py"]
    entry = page.locator("#file-tabs [role=tab]").first
    expect(entry).to_contain_text("entry")
    assert page.is_disabled("#file-rename") and page.is_disabled("#file-remove")

    _add_file(page, "helpers/util.py")
    assert _tab_names(page) == ["main.py", "helpers/util.py"]
    assert _selected(page) == "helpers/util.py" and _editor_text(page) == ""
    _write(page, "def twice(n):\n    return n * 2\n")
    _show(page, "main.py")
    _write(page, "from helpers import util\nprint('twice:', util.twice(21))\n")
    expect(page.locator("#file-count")).to_contain_text("2 files")

    _run(page)  # the streaming WebSocket path
    assert _field(page, "status") == "Success"
    assert _field(page, "stdout") == "twice: 42\n"
    _screenshot(page, "files-python-module")
    # what was sent and logged: both files, the entry first
    runs = page.evaluate(
        """async () => (await fetch('/api/runs', {headers: {Authorization:
             `Bearer ${localStorage.getItem('execbox.apiKey')}`}})).json()"""
    )
    detail = _run_detail(server, runs[0]["runId"], key)
    main_py = "from helpers import util\nprint('twice:', util.twice(21))\n"
    assert detail["files"] == [
        {"name": "main.py", "content": main_py},
        {"name": "helpers/util.py", "content": "def twice(n):\n    return n * 2\n"},
    ]

    # the same program over plain HTTP (no WebSocket)
    page.route_web_socket("**/api/ws/run", lambda ws: ws.close())
    _show(page, "helpers/util.py")
    _write(page, "def twice(n):\n    return n * 2 + 1\n")
    _run(page)
    assert _field(page, "stdout") == "twice: 43\n"


def test_a_c_header_is_renamed_and_removed(page: Page, server: Server) -> None:
    page.on("dialog", lambda dialog: dialog.accept())  # "Remove answer.h and its text?"
    _open(page, server)
    _choose(page, "c")
    assert _tab_names(page) == ["main.c"]
    _add_file(page, "answer.h")
    _write(page, "#define ANSWER 42\n")
    _show(page, "main.c")
    _write(
        page,
        '#include <stdio.h>\n#include "include/answer.h"\n\n'
        'int main(void) {\n    printf("answer %d\\n", ANSWER);\n    return 0;\n}\n',
    )
    _run(page)
    assert _field(page, "status") == "Compile error"  # main.c looks in include/
    assert "include/answer.h" in _field(page, "compile-output")

    _show(page, "answer.h")
    page.click("#file-rename")
    _show(page, "main.c")  # showing another file drops a rename begun for this one
    assert page.is_hidden("#file-form")
    _show(page, "answer.h")
    page.click("#file-rename")
    assert page.input_value("#file-name") == "answer.h"
    page.fill("#file-name", "include/answer.h")
    page.click("#file-submit")
    assert _tab_names(page) == ["main.c", "include/answer.h"]
    assert _editor_text(page) == "#define ANSWER 42\n"  # renaming keeps the text
    _run(page)
    assert _field(page, "status") == "Success"
    assert _field(page, "stdout") == "answer 42\n"

    page.click("#file-remove")
    assert _tab_names(page) == ["main.c"]
    assert page.is_disabled("#file-remove")
    _run(page)
    assert _field(page, "status") == "Compile error"  # the header is no longer sent
    assert "include/answer.h" in _field(page, "compile-output")
    _screenshot(page, "files-c-header-removed")


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("../escape.py", "“..”"),
        ("/etc/passwd", "relative"),
        ("lib/../../x.py", "“..”"),
        ("a\tb.py", "control characters"),
        ("my file.py", "only letters, digits"),
        ("-x.py", "start with “-”"),
        ("main.py", "entry file"),
        ("util.py", "already a file named"),
        ("util.py/x.py", "cannot be a folder"),
        ("a/b/c/d/e/f/g/h/i.py", "at most 8 parts"),
    ],
)
def test_a_bad_file_name_is_refused_in_the_page(
    page: Page, server: Server, name: str, says: str
) -> None:
    _open(page, server)
    _choose(page, "python")
    _add_file(page, "util.py")
    assert _tab_names(page) == ["main.py", "util.py"]
    _add_file(page, name)
    error = page.locator("#file-name-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text(says)
    assert page.get_attribute("#file-name", "aria-invalid") == "true"
    assert _tab_names(page) == ["main.py", "util.py"]  # nothing was added
    # fixing the name clears the message and adds the file
    page.fill("#file-name", "ok.py")
    expect(error).to_be_hidden()
    page.press("#file-name", "Enter")
    assert _tab_names(page) == ["main.py", "util.py", "ok.py"]


def test_a_name_the_server_refuses_is_shown_readably(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "print('never runs')\n")
    # A file the page's own check would refuse, slipped in past it (as an older page or a
    # hand-edited draft could): the server's 422 must still read well.
    page.evaluate(
        """() => {
             const {program, editor} = window.execboxEditor;
             program.files.push({name: '../escape.py', state: editor.createState('x = 1')});
             program.render();
           }"""
    )
    _run(page)
    assert _field(page, "error-title") == "The server refused the program's files"
    assert "../escape.py" in _field(page, "error-message")
    assert "file name" in _field(page, "error-message")
    assert "Rename or remove" in _field(page, "error-hint")
    _screenshot(page, "files-server-refused")


def test_files_come_back_from_history_and_across_a_language_switch(
    page: Page, server: Server
) -> None:
    key = server.create_user("web-files-history")
    _open(page, server)
    _use_key(page, key)
    _choose(page, "python")
    _add_file(page, "greeting.py")
    _write(page, "WORD = 'hello'\n")
    _show(page, "main.py")
    _write(page, "import greeting\nprint(greeting.WORD, input())\n")
    page.fill("#stdin", "files\n")
    _run(page)
    assert _field(page, "stdout") == "hello files\n"

    # another language has its own files; coming back brings these back
    _choose(page, "javascript")
    assert _tab_names(page) == ["main.js"]
    assert "console.log" in _editor_text(page)
    _choose(page, "python")
    assert _tab_names(page) == ["main.py", "greeting.py"]
    assert _editor_text(page) == "import greeting\nprint(greeting.WORD, input())\n"

    # the run history restores every file of the run
    _choose(page, "javascript")
    page.wait_for_selector("#runs button[data-run-id]")
    page.click("#runs button[data-run-id]")
    expect(page.locator('#result [data-field="caption"]')).to_contain_text("A past run")
    assert page.input_value("#language") == "python"
    assert _tab_names(page) == ["main.py", "greeting.py"]
    assert _field(page, "stdout") == "hello files\n"
    _show(page, "greeting.py")
    assert _editor_text(page) == "WORD = 'hello'\n"

    # and the draft survives a reload
    page.wait_for_timeout(600)  # drafts are saved 0.4 s after the last change
    page.reload()
    page.wait_for_selector("#language:not([disabled])")
    assert _tab_names(page) == ["main.py", "greeting.py"]
    _screenshot(page, "files-restored")


def test_files_from_the_keyboard_alone(page: Page, server: Server) -> None:
    page.on("dialog", lambda dialog: dialog.accept())
    _open(page, server)
    _choose(page, "python")
    page.focus("#file-add")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "file-name"
    page.keyboard.type("shout.py")
    page.keyboard.press("Enter")
    # the new file is shown and the editor has the focus
    assert _selected(page) == "shout.py"
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.insert_text("def shout(s):\n    return s.upper()\n")

    page.focus("#file-tabs [aria-selected=true]")
    page.keyboard.press("F2")  # rename the file whose tab has the focus
    assert page.evaluate("document.activeElement.id") == "file-name"
    page.keyboard.press("Control+A")
    page.keyboard.type("loud.py")
    page.keyboard.press("Enter")
    assert _tab_names(page) == ["main.py", "loud.py"]
    assert page.evaluate("document.activeElement.dataset.name") == "loud.py"

    page.keyboard.press("ArrowLeft")  # to main.py
    assert _selected(page) == "main.py"
    assert page.evaluate("document.activeElement.dataset.name") == "main.py"
    page.keyboard.press("Tab")  # from the tabs to Add file (Rename and Remove are off)
    assert page.evaluate("document.activeElement.id") == "file-add"
    page.keyboard.press("Tab")  # into the editor
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("import loud\nprint(loud.shout('hi'))\n")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)
    assert _field(page, "stdout") == "HI\n"

    page.focus("#file-tabs [aria-selected=true]")
    page.keyboard.press("End")
    assert _selected(page) == "loud.py"
    page.keyboard.press("Delete")
    assert _tab_names(page) == ["main.py"]
    assert page.evaluate("document.activeElement.dataset.name") == "main.py"


def test_at_most_64_files(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    for i in range(1, 63):
        assert page.evaluate(f"window.execboxEditor.program.add('f{i}.py', 'X = {i}')") is None
    assert page.is_enabled("#file-add")
    _add_file(page, "last.py")  # the 64th
    assert len(_tab_names(page)) == 64
    assert page.is_disabled("#file-add")
    refused = page.evaluate("window.execboxEditor.program.add('one-more.py')")
    assert refused == "A program can have at most 64 files."
    assert len(_tab_names(page)) == 64
    _show(page, "main.py")
    _write(page, "import f1, f62\nprint(f1.X + f62.X)\n")
    _run(page)
    assert _field(page, "stdout") == "63\n"  # all 64 were sent
    page.once("dialog", lambda dialog: dialog.accept())
    _show(page, "f1.py")
    page.click("#file-remove")
    assert page.is_enabled("#file-add")
