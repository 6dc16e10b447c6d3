"""Languages are data files, validated when loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from execbox.errors import ConfigError, UnknownLanguage
from execbox.languages import load_registry
from execbox.limits import resolve_limits
from execbox.settings import Settings


def test_the_first_six_languages_and_their_aliases() -> None:
    registry = load_registry()
    assert {"bash", "c", "cpp", "java", "javascript", "python"} <= set(registry.ids())
    assert registry.get("node").id == "javascript"
    assert registry.get("JS").id == "javascript"
    assert registry.for_filename("x.cc").id == "cpp"


def test_unknown_language_lists_the_supported_ones() -> None:
    with pytest.raises(UnknownLanguage) as info:
        load_registry().get("brainfuck")
    assert "python" in info.value.message and info.value.field == "language"


def test_argv_templates_are_filled_from_limits(tmp_path: Path) -> None:
    java = load_registry().get("java")
    limits = resolve_limits(Settings(data_dir=tmp_path), language=java.limits)
    assert f"-XX:MaxRAM={256 << 20}" in java.run_argv(limits)
    assert java.run_argv(limits, ["a"])[-1] == "a"


def test_an_added_language_file_needs_no_code(tmp_path: Path) -> None:
    (tmp_path / "perl5.toml").write_text(
        'id = "perl5"\nname = "Perl 5"\nextensions = [".pl5"]\nsource_file = "main.pl"\n'
        'run = ["perl", "main.pl"]\ntest_program = "print qq(OK\\\\n);"\n'
        '[version]\ncommand = ["perl", "-e", "print $^V"]\npattern = "v(\\\\S+)"\n'
    )
    registry = load_registry([tmp_path])
    assert registry.for_filename("x.pl5").id == "perl5"


@pytest.mark.parametrize(
    "body",
    [
        'id = "Bad Id"',
        'id = "x"\nsource_file = "../escape"',
        'id = "x"\nmounts = ["relative/path"]',
        'id = "x"\nrun = "python3 main.py"',
    ],
)
def test_invalid_language_files_fail_at_load(tmp_path: Path, body: str) -> None:
    base = {
        "id": '"x"',
        "name": '"X"',
        "source_file": '"main.x"',
        "run": '["x"]',
        "test_program": '"x"',
    }
    lines = dict(base)
    for line in body.splitlines():
        key, _, value = line.partition(" = ")
        lines[key] = value
    text = "\n".join(f"{k} = {v}" for k, v in lines.items())
    (tmp_path / "x.toml").write_text(text + '\n[version]\ncommand = ["x"]\npattern = "x"\n')
    with pytest.raises(ConfigError):
        load_registry([tmp_path])


def test_a_language_is_installed_only_with_everything_it_requires(tmp_path: Path) -> None:
    body = (
        'id = "{id}"\nname = "X"\nsource_file = "main.x"\nrun = ["bash", "main.x"]\n'
        'requires = {requires}\ntest_program = "x"\n[version]\ncommand = ["bash"]\npattern = "x"\n'
    )
    (tmp_path / "has.toml").write_text(body.format(id="has", requires='["bash", "/usr/bin/*sh"]'))
    (tmp_path / "lacks.toml").write_text(body.format(id="lacks", requires='["no-such-tool"]'))
    (tmp_path / "nofile.toml").write_text(body.format(id="nofile", requires='["/no/such/*"]'))
    registry = load_registry([tmp_path])
    assert registry.get("has").host_available()
    assert not registry.get("lacks").host_available()
    assert not registry.get("nofile").host_available()
    assert registry.get("assembly").requires == ["nasm", "ld"]
