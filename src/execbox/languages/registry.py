"""Load, validate and look up language definitions.

A language file says everything the engine needs: the source file name, the
compile and run argv (lists, never shell strings; ``{memory_mb}``-style fields
are filled from the step's limits, and a ``{sources}`` element of the compile
argv becomes every source file of a multi-file program), how to read the version, extra read-only
host paths, limit overrides and a test program that prints ``OK``.  Adding a
language touches no code.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from execbox.errors import ConfigError, UnknownLanguage
from execbox.limits import LimitOverrides, Limits

DATA_DIR = Path(__file__).with_name("data")
HOST_PATH = "/usr/bin:/bin"
"""Where toolchains are looked up on the host; only ``/usr`` is visible in the sandbox."""

_ID = re.compile(r"^[a-z][a-z0-9_+-]{0,31}$")


class VersionProbe(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] = Field(min_length=1)
    pattern: str


class CompileSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    command: list[str] = Field(min_length=1)
    limits: LimitOverrides = LimitOverrides()


class Language(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    name: str
    aliases: list[str] = []
    extensions: list[str] = []
    highlight: str = ""
    """The web editor's grammar for this language (a name in its ``grammars.js``, such as
    ``"python"`` or ``"scheme"``); empty or unknown to the editor: plain text."""
    source_file: str
    run: list[str] = Field(min_length=1)
    compile: CompileSpec | None = None
    version: VersionProbe
    limits: LimitOverrides = LimitOverrides()
    mounts: list[str] = []
    env: dict[str, str] = {}
    support_files: dict[str, str] = {}
    """Files placed beside the source in every run (e.g. declarations a compiler needs)."""
    packages: list[str] = []
    """The Debian packages that bring the toolchain (what ``scripts/setup`` installs)."""
    requires: list[str] = []
    """More that must exist on the host beyond the steps' argv[0]: programs on the host's
    PATH, or absolute path patterns (NASM behind a ``bash -c`` compile, GCC's cc1obj)."""
    test_program: str
    starter: str = ""

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        if not _ID.match(value):
            raise ValueError("must be lower-case letters, digits, '+', '-' or '_'")
        return value

    @field_validator("source_file")
    @classmethod
    def _plain_name(cls, value: str) -> str:
        if "/" in value or value in {"", ".", ".."}:
            raise ValueError("must be a plain file name")
        return value

    @field_validator("support_files")
    @classmethod
    def _plain_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if "/" in name or name in {"", ".", ".."}:
                raise ValueError(f"support file {name!r} must be a plain file name")
        return value

    @field_validator("mounts")
    @classmethod
    def _absolute(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/") or ".." in path.split("/"):
                raise ValueError(f"mount {path!r} must be an absolute path without '..'")
        return value

    def run_argv(self, limits: Limits, args: Iterable[str] = ()) -> list[str]:
        return _fill(self.run, limits, self) + list(args)

    def compile_argv(self, limits: Limits, sources: Iterable[str] = ()) -> list[str] | None:
        """The compile step's argv; an element ``{sources}`` becomes ``sources`` (the files
        the compiler is given: the entry, then the program's other files of this language),
        or the entry file alone when none are given."""
        if self.compile is None:
            return None
        files = list(sources) or [self.source_file]
        argv: list[str] = []
        for arg in self.compile.command:
            if arg == "{sources}":
                argv += files
            else:
                argv += _fill([arg], limits, self)
        return argv

    def support_bytes(self) -> dict[str, bytes]:
        return {name: text.encode() for name, text in self.support_files.items()}

    def executables(self) -> list[str]:
        """The host programs this language needs (argv[0] of each step that is not a path)."""
        steps = [self.run] + ([self.compile.command] if self.compile else [])
        return [argv[0] for argv in steps if "/" not in argv[0]]

    def host_available(self) -> bool:
        needed = self.executables() + [r for r in self.requires if not r.startswith("/")]
        paths = [r for r in self.requires if r.startswith("/")]
        return all(shutil.which(exe, path=HOST_PATH) for exe in needed) and all(
            glob.glob(pattern) for pattern in paths
        )

    @cached_property
    def host_version(self) -> str | None:
        """The toolchain's version as the host reports it (a trusted host binary, not user code)."""
        exe = shutil.which(self.version.command[0], path=HOST_PATH)
        if exe is None:
            return None
        try:
            done = subprocess.run(
                [exe, *self.version.command[1:]],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
                env={"PATH": HOST_PATH, "LANG": "C.UTF-8"},
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        match = re.search(self.version.pattern, done.stdout + done.stderr)
        return match.group(1) if match else None


def _fill(argv: list[str], limits: Limits, language: Language) -> list[str]:
    fields: Mapping[str, object] = {
        "memory_bytes": limits.memory_bytes,
        "memory_mb": limits.memory_mb,
        "source": language.source_file,
    }
    return [arg.format_map(fields) for arg in argv]


class LanguageRegistry:
    """All known languages, looked up by id, alias or file extension."""

    def __init__(self, languages: Iterable[Language]) -> None:
        self._by_id: dict[str, Language] = {}
        self._by_name: dict[str, Language] = {}
        for language in languages:
            if language.id in self._by_id:
                raise ConfigError(f"language {language.id!r} is defined twice")
            self._by_id[language.id] = language
            for name in [language.id, *language.aliases]:
                self._by_name.setdefault(name.lower(), language)

    def all(self) -> list[Language]:
        return sorted(self._by_id.values(), key=lambda lang: lang.id)

    def ids(self) -> list[str]:
        return sorted(self._by_id)

    def get(self, name: str) -> Language:
        language = self._by_name.get(name.strip().lower())
        if language is None:
            raise UnknownLanguage(name, self.ids())
        return language

    def for_filename(self, filename: str) -> Language:
        suffix = Path(filename).suffix.lower()
        for language in self.all():
            if suffix in language.extensions:
                return language
        raise UnknownLanguage(suffix or filename, self.ids())

    def only(self, ids: Iterable[str]) -> LanguageRegistry:
        keep = set(ids)
        return LanguageRegistry(lang for lang in self.all() if lang.id in keep)


def load_language(path: Path) -> Language:
    try:
        with path.open("rb") as handle:
            return Language.model_validate(tomllib.load(handle))
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ConfigError(f"invalid language file {path}: {exc}") from exc


def load_registry(extra_dirs: Iterable[Path] = ()) -> LanguageRegistry:
    """The bundled languages plus any from ``extra_dirs`` (one ``*.toml`` per language)."""
    files = sorted(DATA_DIR.glob("*.toml"))
    for directory in extra_dirs:
        files += sorted(Path(directory).glob("*.toml"))
    return LanguageRegistry(load_language(path) for path in files)
