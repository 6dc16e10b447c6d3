"""The editor's grammars as data: every language names one the editor has, and each grammar
stays out of the first page load (its chunk is fetched when a language first needs it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import execbox.languages
from execbox.web.editor import STATIC_DIR

FRONTEND = STATIC_DIR.parent / "frontend" / "src"
DATA = Path(execbox.languages.__file__).parent / "data"


def _grammar_names() -> set[str]:
    source = (FRONTEND / "grammars.js").read_text()
    table = source[source.index("export const GRAMMARS = {") : source.index("\n};\n")]
    return set(re.findall(r"^  ([a-z]+): ", table, re.MULTILINE))


def _first_load() -> dict[str, str]:
    """editor.js and every chunk it imports statically: what the page fetches before any
    language is picked."""
    js = STATIC_DIR / "js"
    seen: dict[str, str] = {}
    todo = ["editor.js"]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = (js / name).read_text()
        todo += re.findall(r'(?:import|export)[^"\'();]*?from\s*"\./([\w-]+\.js)"', seen[name])
        todo += re.findall(r'\bimport\s*"\./([\w-]+\.js)"', seen[name])
    return seen


def test_every_language_names_a_grammar_the_editor_has() -> None:
    grammars = _grammar_names()
    assert {"python", "cpp", "shell", "nasm", "scheme"} <= grammars
    for toml in sorted(DATA.glob("*.toml")):
        highlight = tomllib.loads(toml.read_text()).get("highlight", "")
        assert highlight in grammars, f"{toml.name}: highlight {highlight!r} is not in grammars.js"


def test_grammars_are_not_in_the_first_page_load() -> None:
    first = _first_load()
    assert "editor.js" in first and len(first) < 10
    first_text = "".join(first.values())
    all_text = "".join(p.read_text() for p in (STATIC_DIR / "js").glob("*.js"))
    # CodeMirror names each language in its bundle; these come from five kinds of grammar
    for name in ("python", "elixir", "php", "erlang", "ocaml", "nasm", "vala"):
        assert f'name:"{name}"' in all_text, name
        assert f'name:"{name}"' not in first_text, f"the {name} grammar is in the first load"
    size = sum(len(text.encode()) for text in first.values())
    assert size < 600 * 1024, f"the first load is {size} bytes"
