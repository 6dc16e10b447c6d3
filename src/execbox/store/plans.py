"""Plans are data: rows an operator edits, read per request so changes apply at once.

The built-in plans are inserted when missing and never overwritten, so an
operator's edits survive upgrades and restarts.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from execbox.errors import ConfigError
from execbox.store.models import PlanRow


@dataclass(frozen=True)
class Plan:
    name: str
    daily_runs: int
    max_code_bytes: int
    time_limit_s: float
    memory_limit_mb: int
    languages: tuple[str, ...] | None = None
    """Language ids the plan may run; ``None`` means every language."""

    def allows(self, language_id: str) -> bool:
        return self.languages is None or language_id in self.languages


FREE = Plan("free", daily_runs=100, max_code_bytes=102_400, time_limit_s=10.0, memory_limit_mb=128)
BUILTIN_PLANS = (
    Plan("guest", daily_runs=20, max_code_bytes=102_400, time_limit_s=10.0, memory_limit_mb=128),
    FREE,
    Plan("pro", daily_runs=10_000, max_code_bytes=524_288, time_limit_s=30.0, memory_limit_mb=512),
)


def _to_plan(row: PlanRow) -> Plan:
    return Plan(
        name=row.name,
        daily_runs=row.daily_runs,
        max_code_bytes=row.max_code_bytes,
        time_limit_s=row.time_limit_s,
        memory_limit_mb=row.memory_limit_mb,
        languages=tuple(row.languages) if row.languages is not None else None,
    )


def _write(row: PlanRow, plan: Plan, now: datetime) -> None:
    row.daily_runs = plan.daily_runs
    row.max_code_bytes = plan.max_code_bytes
    row.time_limit_s = plan.time_limit_s
    row.memory_limit_mb = plan.memory_limit_mb
    row.languages = list(plan.languages) if plan.languages is not None else None
    row.updated_at = now


def ensure_builtin(session: Session, now: datetime) -> None:
    """Insert the built-in plans that are missing.  Several processes may start at once on
    an empty database: a plan another one inserted meanwhile is left as that one wrote it."""
    existing = set(session.scalars(select(PlanRow.name)))
    for plan in BUILTIN_PLANS:
        if plan.name not in existing:
            row = PlanRow(name=plan.name)
            _write(row, plan, now)
            try:
                with session.begin_nested():
                    session.add(row)
            except IntegrityError:
                pass  # inserted by another process since the select above


def get(session: Session, name: str) -> Plan | None:
    row = session.get(PlanRow, name)
    return _to_plan(row) if row is not None else None


def require(session: Session, name: str) -> Plan:
    plan = get(session, name)
    if plan is None:
        raise ConfigError(f"no plan named {name!r}; `execbox plans list` shows them")
    return plan


def list_all(session: Session) -> list[Plan]:
    return [_to_plan(row) for row in session.scalars(select(PlanRow).order_by(PlanRow.name))]


def set_plan(session: Session, name: str, now: datetime, **changes: object) -> Plan:
    """Create or update a plan: a new plan starts from ``free``'s values, an old one from its own.

    ``changes`` holds only what the operator gave (``None`` values are ignored).
    """
    given = {key: value for key, value in changes.items() if value is not None}
    unknown = set(given) - set(asdict(FREE)) - {"name"}
    if unknown:
        raise ConfigError(f"unknown plan fields: {', '.join(sorted(unknown))}")
    if not name or len(name) > 64:
        raise ConfigError("a plan name must be 1 to 64 characters")
    row = session.get(PlanRow, name)
    if row is None:
        base = get(session, "free") or FREE
        row = PlanRow(name=name)
        session.add(row)
    else:
        base = _to_plan(row)
    plan = replace(base, name=name, **given)  # type: ignore[arg-type]
    _validate(plan)
    _write(row, plan, now)
    return plan


def _validate(plan: Plan) -> None:
    if plan.daily_runs < 0:
        raise ConfigError("daily runs must be 0 or more")
    if plan.max_code_bytes < 1:
        raise ConfigError("max code bytes must be at least 1")
    if not plan.time_limit_s > 0:
        raise ConfigError("the time limit must be a positive number of seconds")
    if plan.memory_limit_mb < 8:
        raise ConfigError("the memory limit must be at least 8 MB")


def set_languages(
    session: Session, name: str, languages: tuple[str, ...] | None, now: datetime
) -> Plan:
    """Set which languages a plan may run (``None``: every language)."""
    row = session.get(PlanRow, name)
    if row is None:
        raise ConfigError(f"no plan named {name!r}")
    plan = replace(_to_plan(row), languages=languages)
    _write(row, plan, now)
    return plan
