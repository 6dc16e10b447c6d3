"""The one settings object: every knob with its unit and default.

Values come, highest first, from keyword arguments (the CLI fills these), the
environment (``EXECBOX_*``), an optional TOML file named by ``config_file`` (a
keyword argument or ``EXECBOX_CONFIG_FILE``), then the defaults below.  A bad
value fails at start-up with the field named, never later in the middle of a
run; so does a key of the TOML file that is not a setting (a typo would
otherwise be silently ignored).  Every field has a description with its unit:
``execbox config`` prints them as the configuration reference.
"""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from execbox.errors import ConfigError

DAY_S = 86_400.0
MAX_MB = 1 << 20
"""1 TiB: more than any host this runs on; a bigger number is a typo."""
MAX_CORES = 1024.0
MAX_PIDS = 32_768


def _default_data_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/var/lib/execbox")
    return Path.home() / ".local" / "share" / "execbox"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EXECBOX_", extra="forbid", validate_default=True)

    # --- where things live -------------------------------------------------------------
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="database and run files (default /var/lib/execbox as root)",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default SQLite in data_dir (postgresql://... to share)"
    )
    config_file: Path | None = Field(
        None,
        description="TOML file with any of these settings (unknown keys are refused); "
        "the environment and the command line override it",
    )

    # --- sandbox backend ---------------------------------------------------------------
    backend: Literal["native", "docker"] = Field(
        "native", description="sandbox backend: native (namespaces + cgroups) or docker"
    )
    sandbox_builder: Literal["execbox", "bubblewrap"] = Field(
        "execbox",
        description="native: what builds each sandbox's namespaces and mounts: execbox's own "
        "static execbox-sandbox (the same command line, a fraction of the CPU) or bubblewrap",
    )
    bwrap_path: str = Field(
        "bwrap", min_length=1, description="the bubblewrap program (sandbox_builder=bubblewrap)"
    )
    cgroup_name: str = Field(
        "execbox",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="cgroup (sub)tree execbox creates runs in",
    )
    sandbox_uid_base: int = Field(
        1_900_000, ge=10_000, le=4_000_000_000, description="first host uid/gid lent to sandboxes"
    )
    sandbox_uid_count: int = Field(256, ge=1, le=65_536, description="host uids in the pool")
    seccomp: bool = Field(True, description="load the seccomp filter into every sandbox")
    warm_sandboxes: int = Field(
        2,
        ge=0,
        le=64,
        description="native: fresh sandboxes of each kind started ahead of time, each used "
        "once, in a long-lived process (`execbox serve`, `execbox worker`, the bench); "
        "`execbox run` and `execbox doctor` never start any; 0: every sandbox on demand",
    )
    log_timing: bool = Field(
        False,
        description="log each run's phase timings (sandbox set-up, program, clean-up; "
        "logger execbox.timing, debug level)",
    )
    warm_sandbox_kinds: int = Field(
        4, ge=1, le=64, description="native: how many kinds (language, limits) are kept warm"
    )
    selftest: bool = Field(
        True, description="run the sandbox self-test at start and in /readyz; failing, no runs"
    )
    cgroup_favor_dynmods: bool = Field(
        True, description="remount cgroup2 with favordynmods: 5-15 ms faster sandbox starts"
    )

    # --- default limits of one run step (what a request gets unless it asks for less) ------
    time_limit_s: float = Field(
        10.0, gt=0, le=DAY_S, description="wall-clock limit of a run, seconds"
    )
    memory_limit_mb: int = Field(
        128, ge=8, le=MAX_MB, description="memory limit of a run, MiB (no swap)"
    )
    cpu_limit: float = Field(0.5, gt=0, le=MAX_CORES, description="CPU quota of a run, cores")
    pids_limit: int = Field(
        64, ge=4, le=MAX_PIDS, description="processes and threads of a run at once"
    )
    output_limit_bytes: int = Field(
        1 << 20, ge=1024, le=1 << 30, description="cap of stdout and of stderr each, bytes"
    )
    tmp_size_mb: int = Field(
        32, ge=1, le=MAX_MB, description="size of a sandbox's /tmp and of its /dev/shm, MiB"
    )
    workdir_size_mb: int = Field(
        32, ge=1, le=MAX_MB, description="size of the run directory (/box), MiB"
    )
    open_files_limit: int = Field(
        256, ge=16, le=65_536, description="RLIMIT_NOFILE of the program: open descriptors"
    )

    # --- the most a request or plan may ask for ---------------------------------------------
    max_time_limit_s: float = Field(
        30.0, gt=0, le=DAY_S, description="longest wall-clock limit a request may ask, seconds"
    )
    max_memory_limit_mb: int = Field(
        1024, ge=8, le=MAX_MB, description="largest memory limit a request may ask, MiB"
    )
    max_stdin_bytes: int = Field(
        1 << 20, ge=0, le=1 << 30, description="largest stdin of a run, bytes"
    )
    interactive_time_limit_s: float = Field(
        120.0,
        gt=0,
        le=DAY_S,
        description="wall-clock limit of a streaming (WebSocket) run, seconds, so that a "
        "person has time to type; its CPU-time limit stays the plan's",
    )
    max_pending_input_bytes: int = Field(
        1 << 16,
        ge=1024,
        le=1 << 30,
        description="input of a streaming run held while the program does not read it, bytes; "
        "past it the client is read no further until the program catches up",
    )
    max_args: int = Field(64, ge=0, le=4096, description="most command-line args of a run")
    max_arg_bytes: int = Field(
        4096, ge=1, le=131_072, description="longest command-line arg, bytes (Linux: 128 KiB)"
    )

    # --- compile steps ---------------------------------------------------------------------
    compile_time_limit_s: float = Field(
        20.0, gt=0, le=DAY_S, description="wall-clock limit of a compile step, seconds"
    )
    compile_memory_limit_mb: int = Field(
        512, ge=16, le=MAX_MB, description="memory limit of a compile step, MiB"
    )
    compile_cpu_limit: float = Field(
        1.0, gt=0, le=MAX_CORES, description="CPU quota of a compile step, cores"
    )
    compile_pids_limit: int = Field(
        128, ge=4, le=MAX_PIDS, description="processes and threads of a compile step"
    )

    # --- docker backend ----------------------------------------------------------------------
    docker_runtime: str | None = Field(None, description="OCI runtime for containers, e.g. runsc")
    docker_images: dict[str, str] = Field(
        default_factory=dict, description="language id -> image (default: execbox's own)"
    )

    # --- service ------------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="address `execbox serve` listens on")
    port: int = Field(8000, ge=0, le=65535, description="port `execbox serve` listens on")
    workers: int = Field(
        default_factory=lambda: max(4, 2 * (os.cpu_count() or 1)),
        ge=1,
        le=1024,
        description="runs at once (default: two per core, at least 4: a run's thread mostly "
        "waits on its sandbox)",
    )
    queue_limit: int = Field(
        64, ge=0, le=1_000_000, description="runs waiting for a worker before 503"
    )
    guests_enabled: bool = Field(True, description="callers without an API key may run code")
    max_body_bytes: int = Field(
        8 << 20, ge=1024, le=1 << 30, description="largest request body, bytes"
    )
    readiness_cache_s: float = Field(
        5.0, ge=0, le=3600, description="how long a /readyz self-check holds, seconds"
    )
    drain_timeout_s: float = Field(
        60.0, gt=0, le=DAY_S, description="wait for in-flight runs at SIGTERM, seconds"
    )
    recent_runs_limit: int = Field(
        50, ge=1, le=10_000, description="runs GET /api/runs returns at most"
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="reverse proxies whose X-Forwarded-For names the client: IP addresses or "
        "CIDR networks, comma-separated; none by default (the connecting address is the client)",
    )
    judge0_callback_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="hosts ('name' or 'name:port') a Judge0 callback_url may PUT to, "
        "comma-separated; none by default (callbacks refused)",
    )

    # --- scale-out: `execbox api` nodes and `execbox worker` hosts ------------------------------
    redis_url: str | None = Field(
        None,
        description="Redis that carries runs from `execbox api` nodes to `execbox worker` hosts "
        "(redis://host:port/db); needed by those two commands, unused by `execbox serve`",
    )
    queue_name: str = Field(
        "execbox",
        pattern=r"^[A-Za-z0-9_.-]{1,64}$",
        description="name of the run queue in Redis (nodes and workers of one service share it)",
    )
    job_heartbeat_s: int = Field(
        5,
        ge=1,
        le=3600,
        description="a worker renews the lease on each run it holds this often, seconds; a run "
        "whose lease is not renewed for 2x this long is taken back and given to another worker",
    )
    queue_sweep_s: int = Field(
        2, ge=1, le=3600, description="how often a worker looks for runs whose lease ran out, s"
    )
    queue_reconcile_s: float = Field(
        10.0,
        ge=1,
        le=DAY_S,
        description="how often a worker checks the run log for accepted runs that Redis no "
        "longer holds (lost in a Redis restart) and queues them again, seconds",
    )
    worker_report_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="how often a worker reports itself alive (a worker counts as alive for 10 "
        "s after its last report), seconds",
    )
    result_poll_s: float = Field(
        2.0,
        gt=0,
        le=60,
        description="an API node waiting for a run's result reads the run log at least this "
        "often, in case the worker's notice was lost (a Redis restart), seconds",
    )
    backend_timeout_s: float = Field(
        5.0,
        gt=0,
        le=60,
        description="how long an `execbox api` node waits for Redis or PostgreSQL to answer "
        "before a request gets 503 with Retry-After, seconds",
    )

    # --- the run log ---------------------------------------------------------------------------
    run_log_retention_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="finished runs older than this many days are deleted; unset: kept forever",
    )
    run_log_max_runs: int | None = Field(
        None,
        ge=1,
        le=1_000_000_000,
        description="the run log keeps at most this many runs, deleting the oldest finished "
        "ones first; unset: no cap",
    )
    run_log_prune_interval_s: float = Field(
        600.0, ge=1, le=DAY_S, description="how often the two settings above are applied, seconds"
    )

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("trusted_proxies", "judge0_callback_hosts", mode="before")
    @classmethod
    def _proxy_list(cls, value: object) -> object:
        """The environment gives ``10.0.0.7, 10.1.0.0/16`` or a JSON list."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ipaddress.ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or CIDR network") from None
        return [entry.strip() for entry in value]

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
        config_file = init_settings().get("config_file") or env_settings().get("config_file")
        if config_file:
            sources += (_TomlFile(settings_cls, Path(config_file)),)
        return sources

    @property
    def runs_dir(self) -> Path:
        return self.data_dir / "runs"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'execbox.db'}"


class _TomlFile(PydanticBaseSettingsSource):
    """The settings file: a TOML table of settings by field name, every key a known one."""

    def __init__(self, settings_cls: type[BaseSettings], path: Path) -> None:
        super().__init__(settings_cls)
        try:
            with path.open("rb") as handle:
                self.values = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from exc
        unknown = sorted(set(self.values) - set(settings_cls.model_fields) - {"config_file"})
        if unknown:
            raise ConfigError(
                f"the config file {path} has unknown settings: {', '.join(unknown)} "
                "(`execbox config` lists them all)"
            )
        if "config_file" in self.values:
            raise ConfigError(f"the config file {path} cannot name another config_file")

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self.values.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self.values)


def load_settings(**overrides: object) -> Settings:
    """The settings from ``overrides`` (``None`` values left out), the environment and the
    config file; :class:`ConfigError` naming the setting or the file when one is bad."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    except ValueError as exc:  # pydantic's ValidationError names the field
        raise ConfigError(f"invalid settings: {exc}") from exc


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings from the environment (cached; tests build their own)."""
    return Settings()
