"""Which multi-file programs are accepted, and where each file goes (no sandbox needed)."""

from __future__ import annotations

import pytest

from execbox.errors import InvalidInput
from execbox.program import MAX_FILES, SourceFile, check_names, layout, sources_of


def test_entry_is_written_under_the_languages_name_and_the_rest_beside_it() -> None:
    placed = layout(
        [SourceFile("prog.c", b"main"), SourceFile("lib/u.c", b"u"), SourceFile("u.h", b"h")],
        "main.c",
    )
    assert placed == {"main.c": b"main", "lib/u.c": b"u", "u.h": b"h"}
    assert next(iter(placed)) == "main.c"
    assert sources_of(placed, [".c"]) == ["main.c", "lib/u.c"]


@pytest.mark.parametrize(
    "names",
    [
        ["main.py", "../escape.py"],
        ["main.py", "/etc/passwd"],
        ["main.py", "a/../../b.py"],
        ["main.py", "./x.py"],
        ["main.py", "a//b.py"],
        ["main.py", "bad\x00.py"],
        ["main.py", "bad\n.py"],
        ["main.py", "bad\x7f.py"],
        ["main.py", "-o.c"],
        ["main.py", "lib/--help.c"],
        ["main.py", ""],
        ["main.py", "x.py", "x.py"],
        ["main.py", "lib", "lib/x.py"],
        ["main.py", "lib/x.py", "lib"],
        ["main.py", "a b.py"],
        ["main.py", "/".join(["d"] * 9)],
        [],
        [f"f{i}.py" for i in range(MAX_FILES + 1)],
    ],
)
def test_unsafe_or_conflicting_names_are_refused_naming_files(names: list[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_names(names)
    assert caught.value.field == "files"


def test_sixty_four_files_are_fine() -> None:
    check_names([f"f{i}.py" for i in range(MAX_FILES)])


@pytest.mark.parametrize("second", ["main.py", "main.py/x.py"])
def test_a_second_file_may_not_take_the_entrys_name(second: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        layout([SourceFile("app.py", b"1"), SourceFile(second, b"2")], "main.py")
    assert caught.value.field == "files"
