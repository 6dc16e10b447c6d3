"""Limits of one sandboxed step, and the one function that decides them.

Precedence, as in Piston: the server's defaults, a language's overrides (the JVM
needs more memory than ``print``), the plan's caps, then the request, which may
ask for any value up to the ceiling (the plan's cap, or the server's maximum)
and is refused, field by field, outside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from pydantic import BaseModel, ConfigDict

from execbox.errors import InvalidLimits
from execbox.settings import Settings

MIB = 1 << 20


@dataclass(frozen=True)
class Limits:
    """What one sandboxed step may use; the native and Docker backends honour each field."""

    time_s: float
    cpu_time_s: float
    memory_bytes: int
    cpu_cores: float
    pids: int
    output_bytes: int
    tmp_bytes: int
    workdir_bytes: int
    open_files: int
    file_bytes: int = 0
    """The largest file the program may write (RLIMIT_FSIZE; a write past it gets SIGXFSZ);
    0: no cap of its own, the run directory's and /tmp's size bound it (see
    :func:`execbox.sandbox.policy.file_size_rlimit`)."""

    @property
    def memory_mb(self) -> int:
        return self.memory_bytes // MIB


class LimitOverrides(BaseModel):
    """Optional values a language file, a plan or a request may set (units in the names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    time_limit_s: float | None = None
    memory_limit_mb: int | None = None
    pids_limit: int | None = None
    file_size_kb: int | None = None


class PlanCaps(BaseModel):
    """The ceilings a plan puts on what its users' requests may ask for."""

    model_config = ConfigDict(frozen=True)

    time_limit_s: float | None = None
    memory_limit_mb: int | None = None


def _check(field: str, value: float, ceiling: float, unit: str) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise InvalidLimits(f"{field} must be a positive number of {unit}.", field=field)
    if value > ceiling:
        raise InvalidLimits(f"{field} may be at most {ceiling:g} {unit}.", field=field)


def resolve_limits(
    settings: Settings,
    *,
    language: LimitOverrides | None = None,
    plan: PlanCaps | None = None,
    request: LimitOverrides | None = None,
) -> Limits:
    """The limits of a run step, from defaults, language, plan and request, in that order."""
    language = language or LimitOverrides()
    plan = plan or PlanCaps()
    request = request or LimitOverrides()

    time_ceiling = min(settings.max_time_limit_s, plan.time_limit_s or math.inf)
    memory_ceiling = min(settings.max_memory_limit_mb, plan.memory_limit_mb or math.inf)

    time_s = min(language.time_limit_s or settings.time_limit_s, time_ceiling)
    memory_mb = min(language.memory_limit_mb or settings.memory_limit_mb, memory_ceiling)
    pids = language.pids_limit or settings.pids_limit

    if request.time_limit_s is not None:
        _check("timeLimit", request.time_limit_s, time_ceiling, "seconds")
        time_s = request.time_limit_s
    if request.memory_limit_mb is not None:
        _check("memoryLimit", request.memory_limit_mb, memory_ceiling, "MB")
        if request.memory_limit_mb < 8:
            raise InvalidLimits("memoryLimit must be at least 8 MB.", field="memoryLimit")
        memory_mb = request.memory_limit_mb
    if request.pids_limit is not None:
        _check("pidsLimit", request.pids_limit, pids, "processes")
        pids = request.pids_limit
    file_bytes = 0
    if request.file_size_kb is not None:
        ceiling_kb = file_size_ceiling_kb(settings)
        _check("fileSizeLimit", request.file_size_kb, ceiling_kb, "KB")
        file_bytes = int(request.file_size_kb) * 1024

    return Limits(
        time_s=float(time_s),
        cpu_time_s=float(time_s),
        memory_bytes=int(memory_mb) * MIB,
        cpu_cores=settings.cpu_limit,
        pids=int(pids),
        output_bytes=settings.output_limit_bytes,
        tmp_bytes=settings.tmp_size_mb * MIB,
        workdir_bytes=settings.workdir_size_mb * MIB,
        open_files=settings.open_files_limit,
        file_bytes=file_bytes,
    )


def file_size_ceiling_kb(settings: Settings) -> int:
    """The largest file size limit a request may ask for: a file cannot outgrow the run
    directory anyway."""
    return settings.workdir_size_mb * 1024


def compile_limits(settings: Settings, language: LimitOverrides | None = None) -> Limits:
    """Limits of a compile step: the server's compile settings, then the language's."""
    language = language or LimitOverrides()
    base = resolve_limits(settings)
    return replace(
        base,
        time_s=language.time_limit_s or settings.compile_time_limit_s,
        cpu_time_s=language.time_limit_s or settings.compile_time_limit_s,
        memory_bytes=(language.memory_limit_mb or settings.compile_memory_limit_mb) * MIB,
        cpu_cores=settings.compile_cpu_limit,
        pids=language.pids_limit or settings.compile_pids_limit,
        workdir_bytes=max(base.workdir_bytes, 64 * MIB),
        tmp_bytes=max(base.tmp_bytes, 64 * MIB),
    )
