"""Limit precedence: defaults, language, plan caps, request (refused outside the ceiling)."""

from __future__ import annotations

from pathlib import Path

import pytest

from execbox.errors import InvalidLimits
from execbox.limits import MIB, LimitOverrides, PlanCaps, compile_limits, resolve_limits
from execbox.settings import Settings


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path)


def test_defaults_are_the_products_design(settings: Settings) -> None:
    limits = resolve_limits(settings)
    assert limits.time_s == 10
    assert limits.memory_bytes == 128 * MIB
    assert limits.cpu_cores == 0.5
    assert limits.pids == 64
    assert limits.output_bytes == 1 << 20


def test_language_override_then_plan_cap(settings: Settings) -> None:
    java = LimitOverrides(memory_limit_mb=256)
    assert resolve_limits(settings, language=java).memory_mb == 256
    capped = resolve_limits(settings, language=java, plan=PlanCaps(memory_limit_mb=128))
    assert capped.memory_mb == 128


def test_request_may_ask_up_to_the_plan_cap(settings: Settings) -> None:
    plan = PlanCaps(time_limit_s=20)
    assert resolve_limits(settings, plan=plan, request=LimitOverrides(time_limit_s=15)).time_s == 15
    assert resolve_limits(settings, request=LimitOverrides(time_limit_s=1.5)).time_s == 1.5
    with pytest.raises(InvalidLimits, match="at most 20") as info:
        resolve_limits(settings, plan=plan, request=LimitOverrides(time_limit_s=21))
    assert info.value.field == "timeLimit"


@pytest.mark.parametrize("value", [-1, 0, 1e9, float("inf"), float("nan")])
def test_out_of_range_time_is_refused_naming_the_field(settings: Settings, value: float) -> None:
    with pytest.raises(InvalidLimits) as info:
        resolve_limits(settings, request=LimitOverrides(time_limit_s=value))
    assert info.value.field == "timeLimit"


@pytest.mark.parametrize("value", [-1, 0, 2, 2**63, 10**6])
def test_out_of_range_memory_is_refused_naming_the_field(settings: Settings, value: int) -> None:
    with pytest.raises(InvalidLimits) as info:
        resolve_limits(settings, request=LimitOverrides(memory_limit_mb=value))
    assert info.value.field == "memoryLimit"


def test_compile_steps_have_their_own_limits(settings: Settings) -> None:
    limits = compile_limits(settings)
    assert limits.time_s == settings.compile_time_limit_s
    assert limits.memory_bytes == settings.compile_memory_limit_mb * MIB
