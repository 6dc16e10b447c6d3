"""The one settings object: every knob with its unit and default.

Values come, highest first, from keyword arguments (the CLI fills these), the
environment (``EXECBOX_*``), an optional TOML file named by
``EXECBOX_CONFIG_FILE``, then the defaults below.  A bad value fails at start-up
with the field named, never later in the middle of a run.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/execbox")
    return Path.home() / ".local" / "share" / "execbox"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXECBOX_", extra="ignore", validate_default=True)

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(default_factory=_default_data_dir, description="database and run files")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default SQLite in data_dir")
    config_file: Path | None = Field(None, description="optional TOML file with these fields")

    # --- sandbox backend ---------------------------------------------------------------
    backend: Literal["native", "docker"] = "native"
    bwrap_path: str = "bwrap"
    cgroup_name: str = Field("execbox", description="cgroup (sub)tree execbox creates runs in")
    sandbox_uid_base: int = Field(
        1_900_000, ge=10_000, description="first host uid/gid lent to sandboxes"
    )
    sandbox_uid_count: int = Field(256, ge=1, le=65_536, description="host uids in the pool")
    seccomp: bool = Field(True, description="load the seccomp filter into every sandbox")
    selftest: bool = Field(
        True, description="run the sandbox self-test at start and in /readyz; failing, no runs"
    )
    netns_pool: bool = Field(
        True, description="reuse one loopback-only network namespace per lent uid (faster)"
    )
    cgroup_favor_dynmods: bool = Field(
        True, description="remount cgroup2 with favordynmods: 5-15 ms faster sandbox starts"
    )

    # --- default limits of one run step (what a request gets unless it asks for less) ------
    time_limit_s: float = Field(10.0, gt=0, description="wall-clock limit of a run, seconds")
    memory_limit_mb: int = Field(128, ge=8, description="memory limit of a run, MiB (no swap)")
    cpu_limit: float = Field(0.5, gt=0, le=64, description="CPU quota, cores")
    pids_limit: int = Field(64, ge=4, description="processes and threads")
    output_limit_bytes: int = Field(1 << 20, ge=1024, description="per stream cap")
    tmp_size_mb: int = Field(32, ge=1, description="size of /tmp and of /dev/shm, MiB")
    workdir_size_mb: int = Field(32, ge=1, description="size of the run directory, MiB")
    open_files_limit: int = Field(256, ge=16, description="RLIMIT_NOFILE of the program")

    # --- the most a request or plan may ask for ---------------------------------------------
    max_time_limit_s: float = Field(30.0, gt=0)
    max_memory_limit_mb: int = Field(1024, ge=8)
    max_stdin_bytes: int = Field(1 << 20, ge=0)
    max_args: int = Field(64, ge=0)
    max_arg_bytes: int = Field(4096, ge=1)

    # --- compile steps ---------------------------------------------------------------------
    compile_time_limit_s: float = Field(20.0, gt=0)
    compile_memory_limit_mb: int = Field(512, ge=16)
    compile_cpu_limit: float = Field(1.0, gt=0)
    compile_pids_limit: int = Field(128, ge=4)

    # --- docker backend ----------------------------------------------------------------------
    docker_runtime: str | None = Field(None, description="OCI runtime for containers, e.g. runsc")
    docker_images: dict[str, str] = Field(default_factory=dict, description="language id -> image")

    # --- service ------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)
    queue_limit: int = Field(64, ge=0, description="runs waiting for a worker before 503")
    guests_enabled: bool = True
    max_body_bytes: int = Field(8 << 20, ge=1024, description="largest request body, bytes")
    readiness_cache_s: float = Field(5.0, ge=0, description="how long a /readyz self-check holds")
    drain_timeout_s: float = Field(60.0, gt=0, description="wait for in-flight runs at SIGTERM")
    recent_runs_limit: int = Field(50, ge=1, description="runs GET /api/runs returns at most")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        config_file = os.environ.get("EXECBOX_CONFIG_FILE")
        if config_file:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=config_file),)
        return sources

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'execbox.db'}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment (cached; tests build their own)."""
    return Settings()
