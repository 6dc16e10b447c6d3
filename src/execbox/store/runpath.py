"""The statements every run request makes, as SQLAlchemy Core on one ``Connection``.

A run costs two transactions: one accepts it (the caller looked up with its plan, the
quota spent, the run recorded ``queued``), one stores its result and reads the caller's
runs today.  These are the hot path of the service, so they skip the ORM (its unit of
work and identity map cost more than the statements themselves); they mean exactly what
:mod:`execbox.store.users`, :mod:`execbox.store.plans`, :mod:`execbox.store.usage` and
:mod:`execbox.store.runs` mean, whose ORM functions the CLI and the workers keep using.
A ``Session``'s work can join them through ``session.connection()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, cast

from sqlalchemy import Connection, Integer, Table, bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from execbox.errors import ConfigError
from execbox.results import RunResult, Status
from execbox.store import usage
from execbox.store.models import PlanRow, RunRow, UsageRow, UserRow
from execbox.store.plans import Plan
from execbox.store.runs import OUTPUT_FIELDS, QUEUED, UNFINISHED
from execbox.store.users import User, hash_key

_PLANS = cast(Table, PlanRow.__table__)
_USERS = cast(Table, UserRow.__table__)
_RUNS = cast(Table, RunRow.__table__)
_USAGE = cast(Table, UsageRow.__table__)

# Built once: a statement made per call costs more to build than to run.
_INSERT_RUN = _RUNS.insert()
_FINISHING = (
    select(
        _RUNS.c.status,
        _RUNS.c.created_at,
        _RUNS.c.started_at,
        _RUNS.c.charged,
        _RUNS.c.subject,
        _RUNS.c.usage_day,
    )
    .where(_RUNS.c.id == bindparam("run_id"))
    .with_for_update()
)
_FINISHED_COLUMNS = (
    "status",
    "result",
    "stdout",
    "stderr",
    "compile_output",
    "finished_at",
    "started_at",
    "charged",
)
_FINISH = (
    update(_RUNS)
    .where(_RUNS.c.id == bindparam("run_id"))
    .values(
        {name: bindparam(f"new_{name}", type_=_RUNS.c[name].type) for name in _FINISHED_COLUMNS}
    )
)
_REFUND = (
    update(_USAGE)
    .where(
        _USAGE.c.subject == bindparam("counted"),
        _USAGE.c.day == bindparam("usage_day"),
        _USAGE.c.runs > 0,
    )
    .values(runs=_USAGE.c.runs - 1)
)

_PLAN_COLUMNS = (
    _PLANS.c.name,
    _PLANS.c.daily_runs,
    _PLANS.c.max_code_bytes,
    _PLANS.c.time_limit_s,
    _PLANS.c.memory_limit_mb,
    _PLANS.c.languages,
)
_PLAN_NAMED = select(*_PLAN_COLUMNS).where(_PLANS.c.name == bindparam("plan_name"))
_USER_BY_KEY = (
    select(
        _USERS.c.id,
        _USERS.c.name,
        _USERS.c.plan,
        _USERS.c.disabled,
        _USERS.c.created_at,
        *_PLAN_COLUMNS,
    )
    .select_from(_USERS.outerjoin(_PLANS, _PLANS.c.name == _USERS.c.plan))
    .where(_USERS.c.key_hash == bindparam("key_hash"))
)
_RUNS_ON = select(_USAGE.c.runs).where(
    _USAGE.c.subject == bindparam("counted"), _USAGE.c.day == bindparam("usage_day")
)


def _spend_statement(insert: Any) -> Any:
    return (
        insert(_USAGE)
        .on_conflict_do_update(
            index_elements=[_USAGE.c.subject, _USAGE.c.day],
            set_={"runs": _USAGE.c.runs + 1},
            where=_USAGE.c.runs < bindparam("limit", type_=Integer),
        )
        .returning(_USAGE.c.runs)
    )


_SPEND_PG = _spend_statement(pg_insert)
_SPEND_SQLITE = _spend_statement(sqlite_insert)


def _plan(row: Sequence[Any], offset: int = 0) -> Plan:
    name, daily_runs, max_code_bytes, time_limit_s, memory_limit_mb, languages = row[
        offset : offset + len(_PLAN_COLUMNS)
    ]
    return Plan(
        name=name,
        daily_runs=daily_runs,
        max_code_bytes=max_code_bytes,
        time_limit_s=time_limit_s,
        memory_limit_mb=memory_limit_mb,
        languages=tuple(languages) if languages is not None else None,
    )


def plan_named(connection: Connection, name: str) -> Plan:
    """The plan ``name``; :class:`ConfigError` if there is none (as ``plans.require``)."""
    row = connection.execute(_PLAN_NAMED, {"plan_name": name}).first()
    if row is None:
        raise ConfigError(f"no plan named {name!r}; `execbox plans list` shows them")
    return _plan(row)


def user_by_key(connection: Connection, key: str) -> tuple[User, Plan] | None:
    """The user holding API key ``key`` and their plan, in one statement; ``None`` if no
    user holds it."""
    row = connection.execute(_USER_BY_KEY, {"key_hash": hash_key(key)}).first()
    if row is None:
        return None
    user = User(row[0], row[1], row[2], bool(row[3]), row[4])
    if row[5] is None:
        raise ConfigError(f"no plan named {user.plan!r}; `execbox plans list` shows them")
    return user, _plan(row, 5)


def runs_on(connection: Connection, subject: str, day: date) -> int:
    count = connection.execute(_RUNS_ON, {"counted": subject, "usage_day": day}).scalar()
    return int(count or 0)


def spend(connection: Connection, subject: str, day: date, limit: int) -> int | None:
    """Take one run of ``limit`` for ``subject`` on ``day`` in one statement (an upsert that
    adds one only below the limit); the runs counted with it, or ``None`` if none is left.
    The database serializes racers on the row, so the last run goes to one of them."""
    if limit <= 0:
        return None
    statement = _SPEND_PG if connection.dialect.name == "postgresql" else _SPEND_SQLITE
    count = connection.execute(
        statement, {"subject": subject, "day": day, "runs": 1, "limit": limit}
    ).scalar()
    return int(count) if count is not None else None


def record_queued(
    connection: Connection,
    *,
    run_id: str,
    subject: str,
    user_id: int | None,
    plan: str,
    language: str,
    code: str,
    stdin: str,
    args: Sequence[str],
    now: datetime,
    files: list[dict[str, str]] | None = None,
    api: str = "execbox",
    api_request: dict[str, Any] | None = None,
    limits: dict[str, Any] | None = None,
) -> None:
    """The accepted run in the log, ``queued`` and charged."""
    connection.execute(
        _INSERT_RUN,
        {
            "id": run_id,
            "subject": subject,
            "user_id": user_id,
            "plan": plan,
            "language": language,
            "code": code,
            "files": files,
            "stdin": stdin,
            "args": list(args),
            "api": api,
            "api_request": api_request,
            "status": QUEUED,
            "limits": limits,
            "usage_day": usage.day_of(now),
            "charged": True,
            "attempts": 0,
            "created_at": now,
        },
    )


def finish(
    connection: Connection,
    run_id: str,
    result: RunResult,
    now: datetime,
    *,
    queue_wait_s: float | None = None,
) -> bool:
    """Store a run's final result (as ``runs.finish``): an ``internal_error`` gives its run
    back; the first final result wins (``False``, nothing written, if it is final already)."""
    row = connection.execute(_FINISHING, {"run_id": run_id}).first()
    if row is None or row.status not in UNFINISHED:
        return False
    raw = result.output_bytes()
    new: dict[str, Any] = {
        "status": result.status.value,
        "result": result.model_dump(mode="json", exclude=set(OUTPUT_FIELDS)),
        "stdout": raw.stdout,
        "stderr": raw.stderr,
        "compile_output": raw.compile_output,
        "finished_at": now,
        "started_at": row.started_at,
        "charged": row.charged,
    }
    if row.started_at is None and queue_wait_s is not None:
        new["started_at"] = row.created_at + timedelta(seconds=max(0.0, queue_wait_s))
    refund = result.status is Status.INTERNAL_ERROR and row.charged
    if refund:
        new["charged"] = False
    connection.execute(_FINISH, {"run_id": run_id, **{f"new_{k}": v for k, v in new.items()}})
    if refund:
        connection.execute(
            _REFUND, {"counted": usage.counted_subject(row.subject), "usage_day": row.usage_day}
        )
    return True
