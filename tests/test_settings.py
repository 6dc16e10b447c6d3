"""The settings object: every bad value fails at start-up with the setting named."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from execbox.settings import Settings


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
