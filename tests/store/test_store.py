"""The store keeps plans, users, runs and quotas correctly on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text

from execbox.results import RunResult, Status
from execbox.store import Database, plans, runpath, runs, usage, users, utcnow
from execbox.store.models import PlanRow, UserRow

DAY = datetime(2030, 5, 17, 12, 0, 0)


def test_migrating_twice_is_harmless_and_builtin_plans_exist(db: Database) -> None:
    db.migrate()
    with db.transaction() as session:
        plans.ensure_builtin(session, utcnow())
        names = [plan.name for plan in plans.list_all(session)]
        free = plans.require(session, "free")
    assert names == ["free", "guest", "pro"]
    assert (free.daily_runs, free.max_code_bytes, free.time_limit_s, free.memory_limit_mb) == (
        100,
        102_400,
        10.0,
        128,
    )
    assert free.languages is None


def _ensure_builtin(db: Database) -> None:
    with db.transaction() as session:
        plans.ensure_builtin(session, DAY)


def test_processes_starting_at_once_each_insert_the_builtin_plans_without_error(
    db: Database,
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer at a time: the second waits and finds the plans")
    with db.transaction() as session:
        session.execute(delete(PlanRow))
    pool = ThreadPoolExecutor(max_workers=1)
    try:
        with db.transaction() as first:
            plans.ensure_builtin(first, DAY)
            first.flush()  # inserted, not committed: the second finds none and inserts too
            second = pool.submit(_ensure_builtin, db)
            time.sleep(1)
            assert not second.done()  # it waits on the first's rows
        second.result(timeout=60)  # then finds them inserted: no unique-key error
    finally:
        pool.shutdown()
    with db.transaction() as session:
        assert [plan.name for plan in plans.list_all(session)] == ["free", "guest", "pro"]


def test_new_plan_takes_free_values_and_existing_plan_keeps_its_own(db: Database) -> None:
    with db.transaction() as session:
        plans.set_plan(session, "free", utcnow(), daily_runs=7)
        team = plans.set_plan(session, "team", utcnow(), max_code_bytes=2048)
        assert (team.daily_runs, team.max_code_bytes, team.time_limit_s) == (7, 2048, 10.0)
        again = plans.set_plan(session, "team", utcnow(), time_limit_s=5.0, languages=("c",))
        assert (again.daily_runs, again.max_code_bytes, again.time_limit_s) == (7, 2048, 5.0)
        assert again.allows("c") and not again.allows("python")


def test_api_keys_are_random_and_stored_only_hashed(db: Database) -> None:
    with db.transaction() as session:
        alice, key_a = users.create(session, "alice", "free", utcnow())
        _, key_b = users.create(session, "bob", "pro", utcnow())
    assert key_a != key_b and len(key_a) >= 40
    with db.transaction() as session:
        stored = session.scalars(select(UserRow.key_hash)).all()
        assert key_a not in stored and key_b not in stored
        found = users.by_key(session, key_a)
        assert found is not None and found.name == "alice" and found.id == alice.id
        assert users.by_key(session, key_a + "x") is None


def test_the_last_run_of_the_day_goes_to_exactly_one_of_many_racers(db: Database) -> None:
    day = DAY.date()

    def spend(_: int) -> bool:
        with db.transaction() as session:
            return usage.try_spend(session, "user:1", day, 5)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(spend, range(24)))
    assert outcomes.count(True) == 5
    with db.transaction() as session:
        assert usage.runs_on(session, "user:1", day) == 5
        assert usage.runs_on(session, "user:1", day.replace(day=18)) == 0


def test_a_crash_left_run_is_finalized_as_internal_error_and_not_charged(db: Database) -> None:
    with db.transaction() as session:
        assert usage.try_spend(session, "guest:1.2.3.4", DAY.date(), 10)
        runpath.record_queued(
            session.connection(),
            run_id="a" * 32,
            subject="guest:1.2.3.4",
            user_id=None,
            plan="guest",
            language="python",
            code="print(1)",
            stdin="",
            args=[],
            now=DAY,
        )
    with db.transaction() as session:
        assert runs.recover_interrupted(session, DAY) == 1
    with db.transaction() as session:
        record = runs.get(session, "guest:1.2.3.4", "a" * 32)
        assert record is not None and record.status == "internal_error"
        assert record.result is not None and record.result.status is Status.INTERNAL_ERROR
        assert usage.runs_on(session, "guest:1.2.3.4", DAY.date()) == 0
        assert runs.recover_interrupted(session, DAY) == 0


def test_a_run_is_visible_only_to_its_subject(db: Database) -> None:
    with db.transaction() as session:
        runpath.record_queued(
            session.connection(),
            run_id="b" * 32,
            subject="user:1",
            user_id=None,
            plan="free",
            language="python",
            code="secret",
            stdin="in",
            args=["x"],
            now=DAY,
        )
        runs.finish(session, "b" * 32, RunResult(language="python", status=Status.OK), DAY)
    with db.transaction() as session:
        assert runs.get(session, "user:2", "b" * 32) is None
        assert runs.recent(session, "user:2", 10) == []
        mine = runs.get(session, "user:1", "b" * 32)
        assert mine is not None and mine.code == "secret" and mine.args == ("x",)
        assert mine.status == "ok"


def test_the_database_answers(db: Database) -> None:
    db.ping()
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_the_sqlite_run_log_is_readable_by_the_service_only(tmp_path: Path) -> None:
    path = tmp_path / "private.db"
    db = Database(f"sqlite:///{path}")
    db.migrate()
    db.close()
    assert path.stat().st_mode & 0o777 == 0o600
