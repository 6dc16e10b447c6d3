"""The settings object: every bad value fails at start-up with the setting named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from execbox.errors import ConfigError
from execbox.settings import Settings, load_settings
from execbox.settings_reference import reference, settings_docs


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("open_files_limit", 2_000_000_000),
        ("open_files_limit", 8),
        ("time_limit_s", 1e12),
        ("time_limit_s", float("inf")),
        ("time_limit_s", float("nan")),
        ("max_time_limit_s", 1e9),
        ("memory_limit_mb", 1 << 40),
        ("max_memory_limit_mb", 1 << 40),
        ("compile_memory_limit_mb", 1 << 40),
        ("pids_limit", 10_000_000),
        ("compile_pids_limit", 10_000_000),
        ("cpu_limit", 1e6),
        ("output_limit_bytes", 1 << 40),
        ("tmp_size_mb", 1 << 40),
        ("workdir_size_mb", 1 << 40),
        ("max_arg_bytes", 1 << 20),
        ("max_stdin_bytes", 1 << 40),
        ("sandbox_uid_base", 1 << 33),
        ("workers", 100_000),
        ("cgroup_name", "../escape"),
    ],
)
def test_an_absurd_value_is_refused_naming_the_setting(
    tmp_path: Path, field: str, value: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(data_dir=tmp_path, **{field: value})  # type: ignore[arg-type]
    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_sensible_values_are_accepted(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, open_files_limit=4096, time_limit_s=60, memory_limit_mb=4096
    )
    assert (settings.open_files_limit, settings.time_limit_s) == (4096, 60.0)


def test_a_settings_file_fills_the_settings_and_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "execbox.toml"
    path.write_text('time_limit_s = 4.5\nbackend = "docker"\n[docker_images]\npython = "p:1"\n')
    monkeypatch.setenv("EXECBOX_CONFIG_FILE", str(path))
    monkeypatch.setenv("EXECBOX_BACKEND", "native")
    settings = Settings(data_dir=tmp_path)
    assert settings.time_limit_s == 4.5
    assert settings.docker_images == {"python": "p:1"}
    assert settings.backend == "native"
    assert settings.config_file == path


def test_config_file_is_honoured_as_a_field(tmp_path: Path) -> None:
    path = tmp_path / "execbox.toml"
    path.write_text("memory_limit_mb = 64\n")
    settings = Settings(data_dir=tmp_path, config_file=path)
    assert settings.memory_limit_mb == 64
    assert load_settings(data_dir=tmp_path, config_file=path).memory_limit_mb == 64


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("time_limt_s = 5\n", "unknown settings: time_limt_s"),
        ('config_file = "/etc/other.toml"\n', "cannot name another config_file"),
        ("time_limit_s = [\n", "is not valid TOML"),
    ],
)
def test_a_bad_settings_file_is_refused_naming_the_file(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "execbox.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(data_dir=tmp_path, config_file=path)
    assert message in str(caught.value) and str(path) in str(caught.value)


def test_an_out_of_range_value_in_the_file_names_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "execbox.toml"
    path.write_text("open_files_limit = 2000000000\n")
    with pytest.raises(ConfigError, match="open_files_limit"):
        load_settings(data_dir=tmp_path, config_file=path)


def test_a_missing_settings_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(data_dir=tmp_path, config_file=tmp_path / "nope.toml")


def test_an_unknown_keyword_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="time_limt_s"):
        load_settings(data_dir=tmp_path, time_limt_s=5)


def test_every_setting_is_in_the_reference_with_a_description() -> None:
    docs = settings_docs()
    assert [doc.name for doc in docs] == list(Settings.model_fields)
    assert [doc.name for doc in docs if len(doc.description) < 10] == []
    text = reference()
    for doc in docs:
        assert f"{doc.name}  (EXECBOX_{doc.name.upper()})" in text
        assert doc.description in text
    assert "<= 65536" in text  # open_files_limit's bound is shown
