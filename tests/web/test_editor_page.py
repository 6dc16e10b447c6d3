"""The editor at ``/`` in a real headless Chromium against a real ``execbox serve``.

Each test does what a person would: pick a language, type, press Run (or Ctrl+Enter), read
the result panel. A screenshot of every case is kept in ``artifacts/web/``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
from playwright.sync_api import expect

import execbox.languages

from .conftest import ARTIFACTS, Server

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

RUN_TIMEOUT_MS = 60_000
# Every language's grammar, as CodeMirror names it on the editor (data-language). Ada, AWK,
# Nim, NASM and Vala use the editor's own small modes (frontend/src/wordmodes.js); Racket is
# highlighted as Scheme and Raku as Perl. No language is left as plain text.
HIGHLIGHTING = {
    "ada": "ada",
    "assembly": "nasm",
    "awk": "awk",
    "bash": "shell",
    "c": "cpp",
    "clojure": "clojure",
    "cobol": "cobol",
    "coffeescript": "coffeescript",
    "commonlisp": "commonlisp",
    "cpp": "cpp",
    "crystal": "crystal",
    "csharp": "csharp",
    "d": "d",
    "elixir": "elixir",
    "erlang": "erlang",
    "forth": "forth",
    "fortran": "fortran",
    "go": "go",
    "groovy": "groovy",
    "haskell": "haskell",
    "java": "java",
    "javascript": "javascript",
    "kotlin": "kotlin",
    "lua": "lua",
    "nim": "nim",
    "objectivec": "objectivec",
    "ocaml": "ocaml",
    "octave": "octave",
    "pascal": "pascal",
    "perl": "perl",
    "php": "php",
    "prolog": "prolog",
    "python": "python",
    "r": "r",
    "racket": "scheme",
    "raku": "perl",
    "ruby": "ruby",
    "rust": "rust",
    "scala": "scala",
    "scheme": "scheme",
    "sqlite": "sql",
    "tcl": "tcl",
    "typescript": "typescript",
    "vala": "vala",
    "zsh": "shell",
}


def _open(page: Page, server: Server) -> None:
    page.goto(server.base_url + "/")
    page.wait_for_selector("#language:not([disabled])")
    page.wait_for_selector("[data-state=idle]")


def _choose(page: Page, language: str) -> None:
    page.select_option("#language", language)


def _write(page: Page, code: str) -> None:
    """Replaces the editor's text the way a paste does (no auto-indent or bracket closing)."""
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(code)


def _editor_text(page: Page) -> str:
    return str(page.evaluate("window.execboxEditor.editor.getCode()"))


def _run(page: Page, *, keyboard: bool = False) -> None:
    if keyboard:
        page.click(".cm-content")
        page.keyboard.press("Control+Enter")
    else:
        page.click("#run")
    page.wait_for_selector(
        "#result [data-state=result], #result [data-state=error]", timeout=RUN_TIMEOUT_MS
    )


def _field(page: Page, name: str) -> str:
    return page.text_content(f'#result [data-field="{name}"]') or ""


def _screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _usage(page: Page) -> dict[str, object]:
    answer = page.evaluate(
        """async () => {
             const key = localStorage.getItem('execbox.apiKey');
             const headers = key ? {Authorization: `Bearer ${key}`} : {};
             return (await fetch('/api/usage', {headers})).json();
           }"""
    )
    assert isinstance(answer, dict)
    return answer


def _use_key(page: Page, key: str) -> None:
    page.click(".key summary")
    page.fill("#api-key", key)
    page.click("#key-form button[type=submit]")
    expect(page.locator("#key-state")).to_contain_text("API key ending in")


def test_typing_and_running_python_shows_output_exit_code_and_duration(
    page: Page, server: Server
) -> None:
    _open(page, server)
    _choose(page, "python")
    page.click(".cm-content")
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.type("print('Hello from the browser'); print(6 * 7)")
    runs_before = _usage(page)["runsToday"]

    # Two clicks in one go: the second must not start a second run.
    page.evaluate("document.getElementById('run').click(); document.getElementById('run').click()")
    assert page.is_disabled("#run")
    assert page.inner_text("#run") == "Running…"
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)

    assert _field(page, "stdout") == "Hello from the browser\n42\n"
    assert _field(page, "exit-code") == "0 ✓"
    assert re.fullmatch(r"\d+(\.\d)? ms", _field(page, "duration"))
    assert _field(page, "status") == "Success"
    assert _field(page, "language").startswith("Python 3.")
    assert re.fullmatch(r"[\d.]+ (B|KB|MB)", _field(page, "memory"))
    assert _field(page, "stderr") == "(none)"
    assert page.is_enabled("#run")
    assert _usage(page)["runsToday"] == runs_before + 1  # type: ignore[operator]
    assert "left today" in page.inner_text("#usage")
    _screenshot(page, "python-ok")


def test_runtime_error_shows_stderr_under_errors(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "print('before')\nprint(1 / 0)\n")
    _run(page, keyboard=True)

    assert _field(page, "status") == "Runtime error"
    assert _field(page, "exit-code") == "1 ✗"
    assert _field(page, "stdout") == "before\n"
    assert page.inner_text("#result .block-stderr h3") == "--- Errors ---"
    assert "ZeroDivisionError: division by zero" in _field(page, "stderr")
    _screenshot(page, "python-runtime-error")


def test_compile_error_shows_the_compilers_message(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "c")
    assert "#include <stdio.h>" in _editor_text(page)  # the starter was loaded
    _write(page, "#include <stdio.h>\n\nint main(void) {\n    return undefined_name;\n}\n")
    _run(page)

    assert _field(page, "status") == "Compile error"
    compiler_says = _field(page, "compile-output")
    assert "undefined_name" in compiler_says
    assert "error" in compiler_says
    assert "✗" in _field(page, "exit-code")
    _screenshot(page, "c-compile-error")


def test_switching_language_runs_javascript(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "print('a python draft')\n")
    _choose(page, "javascript")
    assert "console.log" in _editor_text(page)  # the JavaScript starter replaced the draft
    _write(page, "const xs = [1, 2, 3].map((x) => x * 2);\nconsole.log(xs.join(','));\n")
    _run(page, keyboard=True)

    assert _field(page, "language").startswith("JavaScript")
    assert _field(page, "stdout") == "2,4,6\n"
    assert _field(page, "exit-code") == "0 ✓"
    _screenshot(page, "javascript-ok")

    _choose(page, "python")  # the Python draft is kept
    assert _editor_text(page) == "print('a python draft')\n"
    page.wait_for_timeout(600)  # drafts are saved 0.4 s after the last keystroke
    page.reload()
    page.wait_for_selector("#language:not([disabled])")
    assert page.input_value("#language") == "python"  # in this browser, across reloads
    assert _editor_text(page) == "print('a python draft')\n"


def test_capped_output_is_shown_with_a_truncated_note(page: Page, server: Server) -> None:
    _open(page, server)
    _choose(page, "python")
    _write(page, "import sys\nsys.stdout.write('x' * 3_000_000)\n")
    _run(page)

    assert _field(page, "status") == "Output limit exceeded"
    assert "cut off" in _field(page, "truncated")
    assert _field(page, "stdout").startswith("xxxx")
    _screenshot(page, "output-truncated")


def test_used_up_quota_says_so_and_when_it_resets(page: Page, server: Server) -> None:
    server.cli("plans", "set", "tiny", "--daily-runs", "1")
    key = server.create_user("web-quota", plan="tiny")
    _open(page, server)
    _use_key(page, key)
    expect(page.locator("#usage")).to_contain_text("1 of 1 run left today")
    _choose(page, "python")
    _write(page, "print('first')\n")
    _run(page)
    assert _field(page, "stdout") == "first\n"
    expect(page.locator("#usage")).to_contain_text("0 of 1 run left today")

    _write(page, "print('second')\n")
    _run(page)
    assert _field(page, "error-title") == "Daily runs used up"
    assert _field(page, "error-message")
    assert re.search(r"Runs reset in .+ \(at .+\)\.", _field(page, "error-hint"))
    _screenshot(page, "quota-used-up")


def test_code_larger_than_the_plan_allows_says_the_limit(page: Page, server: Server) -> None:
    server.cli("plans", "set", "small-code", "--max-code-bytes", "64")
    key = server.create_user("web-small", plan="small-code")
    _open(page, server)
    _use_key(page, key)
    _choose(page, "python")
    _write(page, "print('this line is long enough to pass sixty-four bytes of code')\n" * 2)
    _run(page)

    assert _field(page, "error-title") == "Code too large"
    said = _field(page, "error-message") + " " + _field(page, "error-hint")
    assert "134 bytes" in said  # the code's size
    assert "64" in said  # the plan's limit
    _screenshot(page, "code-too-large")


def test_language_the_plan_does_not_allow_says_so(page: Page, server: Server) -> None:
    server.cli("plans", "set", "python-only", "--languages", "python")
    key = server.create_user("web-python-only", plan="python-only")
    _open(page, server)
    _use_key(page, key)
    _choose(page, "javascript")
    _run(page)

    assert _field(page, "error-title") == "JavaScript (Node.js) is not allowed on your plan"
    assert _field(page, "error-message")
    _screenshot(page, "language-not-allowed")


def test_bad_api_key_is_a_readable_message(page: Page, server: Server) -> None:
    _open(page, server)
    _use_key(page, "not-a-real-key")
    _write(page, "print(1)\n")
    _run(page)

    assert _field(page, "error-title") == "API key not accepted"
    assert "clear it to run as a guest" in _field(page, "error-hint")
    _screenshot(page, "bad-api-key")


def test_recent_run_restores_its_code_and_result(page: Page, server: Server) -> None:
    key = server.create_user("web-history")
    _open(page, server)
    _use_key(page, key)
    _choose(page, "bash")
    page.fill("#stdin", "from stdin\n")
    _write(page, 'read line\necho "got: $line"\n')
    _run(page)
    assert _field(page, "stdout") == "got: from stdin\n"
    page.wait_for_selector("#runs button[data-run-id]")

    page.reload()
    page.wait_for_selector("#language:not([disabled])")
    _choose(page, "python")
    page.click("#runs button[data-run-id]")
    page.wait_for_selector("#result [data-state=result]")

    assert page.input_value("#language") == "bash"
    assert _editor_text(page) == 'read line\necho "got: $line"\n'
    assert page.input_value("#stdin") == "from stdin\n"
    assert _field(page, "caption").startswith("A past run, from ")
    assert _field(page, "stdout") == "got: from stdin\n"
    _screenshot(page, "recent-run-restored")


def test_narrow_screen_stacks_the_panes(page: Page, server: Server) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    _open(page, server)
    _write(page, "print('narrow')\n")
    _run(page)
    assert _field(page, "stdout") == "narrow\n"
    code_box = page.locator(".code-pane").bounding_box()
    result_box = page.locator(".result-pane").bounding_box()
    assert code_box and result_box
    assert result_box["y"] >= code_box["y"] + code_box["height"]  # below, not beside
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _screenshot(page, "narrow-screen")


def test_labelled_controls_work_from_the_keyboard_alone(page: Page, server: Server) -> None:
    _open(page, server)
    for label in ("Language", "Input (stdin)", "API key"):
        assert page.get_by_label(label, exact=True).count() == 1, label
    assert page.get_by_role("textbox", name="Code editor").count() == 1
    assert page.get_by_role("button", name="Run", exact=True).count() == 1

    page.focus("#language")
    page.keyboard.press("Tab")  # Load starter
    page.keyboard.press("Tab")  # Run
    assert page.evaluate("document.activeElement.id") == "run"
    page.keyboard.press("Tab")  # the file tabs (one stop): the entry file, main.py
    assert page.evaluate("document.activeElement.dataset.name") == "main.py"
    page.keyboard.press("Tab")  # Add file (Rename and Remove are off for the entry file)
    assert page.evaluate("document.activeElement.id") == "file-add"
    page.keyboard.press("Tab")  # into the editor
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.press("Control+A")
    page.keyboard.insert_text("print(int(input()) * 2)\n")
    page.keyboard.press("Escape")  # closes the completion list typing may have opened
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")  # Esc, Tab leaves the editor for the stdin box
    assert page.evaluate("document.activeElement.id") == "stdin"
    page.keyboard.type("21")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#result [data-state=result]", timeout=RUN_TIMEOUT_MS)

    assert _field(page, "stdout") == "42\n"
    _screenshot(page, "keyboard-only")


_COLOURED = """() => [...document.querySelectorAll('.cm-content .cm-line span')]
    .some((s) => [...s.classList].some((c) => c.startsWith('ͼ')))"""


def _coloured(page: Page) -> bool:
    """Whether a grammar has coloured part of the editor's text (CodeMirror's highlight
    classes are generated names starting with 'ͼ'); highlighting may come a frame later."""
    try:
        page.wait_for_function(_COLOURED, timeout=5_000)
    except PlaywrightTimeoutError:
        return False
    return True


def test_every_language_loads_its_starter_and_its_grammar(page: Page, server: Server) -> None:
    data = Path(execbox.languages.__file__).parent / "data"
    _open(page, server)
    ids = page.eval_on_selector_all("#language option", "options => options.map(o => o.value)")
    assert {"python", "javascript", "c", "bash"} <= set(ids)
    assert set(HIGHLIGHTING) == {p.stem for p in data.glob("*.toml")}
    uncoloured = []
    for language in ids:
        _choose(page, language)
        starter = tomllib.loads((data / f"{language}.toml").read_text())["starter"]
        assert _editor_text(page) == starter, language
        # the language's grammar is switched on (CodeMirror names it on the content element)
        # and colours the starter
        content = page.locator(".cm-content")
        expect(content).to_have_attribute("data-language", HIGHLIGHTING[language])
        if not _coloured(page):
            uncoloured.append(language)
        page.select_option("#language", "python" if language != "python" else "c")
        expect(content).not_to_have_attribute("data-language", HIGHLIGHTING[language])
    assert not uncoloured, f"no part of these starters is highlighted: {uncoloured}"


def test_busy_service_and_lost_connection_are_readable(page: Page, server: Server) -> None:
    # A real server is hard to make busy on cue, so the browser answers for it here,
    # with the contract's 503 body; everything else on the page is the real server's.
    busy = {"error": {"code": "no_capacity", "message": "Every worker is busy."}}
    # No WebSocket here: the editor runs the program over plain HTTP instead.
    page.route_web_socket("**/api/ws/run", lambda ws: ws.close())
    page.route(
        "**/api/editor/run",
        lambda route: route.fulfill(
            status=503, json=busy, headers={"Retry-After": "7", "Content-Type": "application/json"}
        ),
    )
    _open(page, server)
    _run(page)
    assert _field(page, "error-title") == "The service is busy"
    assert _field(page, "error-message") == "Every worker is busy."
    assert _field(page, "error-hint") == "Try again in 7 seconds."
    assert page.is_enabled("#run")
    _screenshot(page, "service-busy")

    page.unroute("**/api/editor/run")
    page.route("**/api/editor/run", lambda route: route.abort("connectionrefused"))
    _run(page)
    assert _field(page, "error-title") == "Cannot reach the execbox server"
    _screenshot(page, "connection-lost")
