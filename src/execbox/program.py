"""A program as it arrives: one or more source files, the first of which is the entry point.

Every front door (``POST /api/editor/run``, the compatible APIs, ``execbox
run``) hands the engine a list of :class:`SourceFile`.  This module decides,
once, what is acceptable and where each file goes in the run directory:

- at most :data:`MAX_FILES` files; every name is a relative path of plain parts
  (:func:`check_file_name`: no ``..``, nothing absolute,
  no NUL or control characters, no links since only contents are sent), no part
  starting with ``-`` (names become compiler arguments), no name given twice and
  no name that is both a file and a folder;
- the entry file (``files[0]``) is written under the name the language runs
  (``Main.java``, ``main.py``: its ``source_file``) at the top of the run
  directory, **whatever it was called** (Piston and Judge0 clients send
  arbitrary names); the other files keep their names, beside it.  A second file
  claiming the entry's name is refused rather than silently dropped.

A refusal is an :class:`~execbox.errors.InvalidInput` naming the field
``files`` (422 over HTTP), raised before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from execbox.errors import InvalidInput

_SAFE_PART = re.compile(r"^[A-Za-z0-9._+-]{1,128}$")
MAX_DEPTH = 8


def check_file_name(name: str) -> str:
    """A file name the host may create in a run directory: a relative path of plain parts
    (letters, digits, ``.``, ``_``, ``+``, ``-``), no ``..``, nothing absolute, no NUL."""
    parts = name.split("/")
    if len(parts) > MAX_DEPTH or not all(
        _SAFE_PART.match(part) and part not in {".", ".."} for part in parts
    ):
        raise InvalidInput(
            f"file name {name!r} must be a relative path of at most {MAX_DEPTH} parts, each "
            "1-128 letters, digits, '.', '_', '+' or '-' (no '..')",
            field="files",
        )
    return name


MAX_FILES = 64


@dataclass(frozen=True)
class SourceFile:
    """One file of a program: a relative path and its exact bytes."""

    name: str
    content: bytes

    @classmethod
    def text(cls, name: str, content: str) -> SourceFile:
        return cls(name, content.encode())


def as_files(code: str | bytes | Sequence[SourceFile], entry_name: str) -> list[SourceFile]:
    """``code`` as a list of files: a single text or byte string becomes the entry file."""
    if isinstance(code, str):
        return [SourceFile.text(entry_name, code)]
    if isinstance(code, bytes):
        return [SourceFile(entry_name, code)]
    return list(code)


def total_bytes(files: Sequence[SourceFile]) -> int:
    """What a program weighs against a plan's code size: the sum of its files' contents."""
    return sum(len(f.content) for f in files)


def check_names(names: Sequence[str], *, max_files: int = MAX_FILES) -> None:
    """Refuse (422, field ``files``) a list of names the run directory must not receive."""
    if not names:
        raise InvalidInput("files must hold at least one file.", field="files")
    if len(names) > max_files:
        raise InvalidInput(
            f"A program may have at most {max_files} files; {len(names)} were sent.",
            field="files",
        )
    seen: set[str] = set()
    folders: set[str] = set()
    for name in names:
        if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
            raise InvalidInput(
                f"file name {name!r} must not contain control characters.", field="files"
            )
        check_file_name(name)
        parts = name.split("/")
        if any(part.startswith("-") for part in parts):
            raise InvalidInput(f"file name {name!r}: no part may start with '-'.", field="files")
        if name in seen or name in folders:
            raise InvalidInput(f"file name {name!r} is given twice.", field="files")
        parents = {"/".join(parts[:i]) for i in range(1, len(parts))}
        if parents & seen:
            raise InvalidInput(f"file name {name!r} uses a file as a folder.", field="files")
        seen.add(name)
        folders |= parents


def layout(files: Sequence[SourceFile], entry_name: str) -> dict[str, bytes]:
    """The run directory's contents: ``files[0]`` as ``entry_name``, the others by name.

    Checks the names first (see the module docstring); the result's first key is the entry.
    """
    check_names([f.name for f in files])
    placed = {entry_name: files[0].content}
    for extra in files[1:]:
        if extra.name == entry_name:
            raise InvalidInput(
                f"file name {extra.name!r} is the name the entry file (the first) runs as; "
                "rename one of them.",
                field="files",
            )
        if PurePosixPath(extra.name).parts[0] == entry_name:
            raise InvalidInput(
                f"file name {extra.name!r} uses the entry file's name {entry_name!r} as a folder.",
                field="files",
            )
        placed[extra.name] = extra.content
    return placed


def sources_of(placed: dict[str, bytes], extensions: Sequence[str]) -> list[str]:
    """The files a compiler is given: the entry, then every other file with one of the
    language's extensions, in the order sent."""
    entry, *others = placed
    wanted = {ext.lower() for ext in extensions}
    return [entry] + [name for name in others if PurePosixPath(name).suffix.lower() in wanted]
