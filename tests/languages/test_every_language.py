"""Every contract language, for real on the native sandbox: it reads input and prints a
result, a failing program is a runtime_error with its exit code and stderr, and a syntax
error in a compiled language is a compile_error with the compiler's message.

A language whose toolchain is not installed here is skipped, except under CI, where every
language of the contract must run (``scripts/setup`` installs them all by default).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.results import Status
from execbox.sandbox.factory import create_backend
from execbox.settings import Settings
from tests.conftest import Runner, make_runner, make_settings
from tests.languages.programs import PROGRAMS

CONTRACT_IDS = sorted(PROGRAMS)
COMPILED = sorted(i for i, p in PROGRAMS.items() if p.syntax_error is not None)


@pytest.fixture(scope="module")
def settings(data_dir: Path) -> Settings:
    """The native backend's, whatever the session's backend (and the ``leftovers`` check's)."""
    return make_settings(data_dir, backend="native")


@pytest.fixture(scope="module")
def native(settings: Settings, registry: LanguageRegistry) -> Engine:
    return Engine(settings, registry, create_backend(settings))


@pytest.fixture
def run(native: Engine, leftovers: None) -> Runner:
    return make_runner(native)


def _installed(registry: LanguageRegistry, language: str) -> None:
    if not registry.get(language).host_available():
        message = f"{language} is not installed here: {registry.get(language).packages}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)


def test_every_contract_language_is_defined(registry: LanguageRegistry) -> None:
    assert registry.ids() == CONTRACT_IDS
    for language in registry.all():
        assert language.packages, f"{language.id} names no Debian package"


@pytest.mark.parametrize("language", CONTRACT_IDS)
def test_reads_input_and_prints_a_result(
    run: Runner, registry: LanguageRegistry, language: str
) -> None:
    _installed(registry, language)
    result = run(language, PROGRAMS[language].doubles, stdin="21\n")
    assert result.status is Status.OK, result
    expected = "21" if language == "assembly" else "42"  # the assembly program echoes
    assert result.stdout.strip() == expected, result
    assert result.version, f"no version read for {language}"


@pytest.mark.parametrize("language", CONTRACT_IDS)
def test_a_failing_program_is_a_runtime_error(
    run: Runner, registry: LanguageRegistry, language: str
) -> None:
    _installed(registry, language)
    result = run(language, PROGRAMS[language].fails)
    assert result.status is Status.RUNTIME_ERROR, result
    if language == "sqlite":  # an SQL error: sqlite3 -bail exits 1 and names the table
        assert result.exit_code == 1 and "no_such_table" in result.stderr
        return
    assert result.exit_code == 3, result
    assert "boom" in result.stderr, result


@pytest.mark.parametrize("language", COMPILED)
def test_a_syntax_error_is_a_compile_error(
    run: Runner, registry: LanguageRegistry, language: str
) -> None:
    _installed(registry, language)
    result = run(language, PROGRAMS[language].syntax_error)
    assert result.status is Status.COMPILE_ERROR, result
    assert result.compile_output and result.compile_output.strip(), result
    assert result.stdout == "" and result.exit_code != 0
