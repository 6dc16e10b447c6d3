"""The per-request statements (Core) mean what the ORM functions mean, on SQLite and
PostgreSQL: the caller by key with its plan, the quota spent in one upsert, a run recorded
and finished (an internal error refunded), all in one transaction each."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from execbox.errors import ConfigError
from execbox.results import RawOutput, RunResult, Status
from execbox.store import Database, plans, runpath, runs, usage, users

DAY = datetime(2030, 5, 17, 12, 0, 0)


def _record(db: Database, run_id: str, subject: str = "user:1") -> None:
    with db.connection() as connection:
        assert runpath.spend(connection, usage.counted_subject(subject), DAY.date(), 10) == 1
        runpath.record_queued(
            connection,
            run_id=run_id,
            subject=subject,
            user_id=None,
            plan="free",
            language="python",
            code="print('é')",
            files=[{"name": "main.py", "content": "print('é')"}],
            stdin="in",
            args=["a", "b"],
            api="piston",
            api_request={"version": "3"},
            limits={"time_s": 1.5},
            now=DAY,
        )


def test_a_user_is_found_by_key_with_their_plan_in_one_lookup(db: Database) -> None:
    with db.transaction() as session:
        user, key = users.create(session, "ada", "pro", DAY)
        plans.set_languages(session, "pro", ("python", "c"), DAY)
    with db.connection() as connection:
        found = runpath.user_by_key(connection, key)
        assert runpath.user_by_key(connection, key + "x") is None
        guest = runpath.plan_named(connection, "guest")
        with pytest.raises(ConfigError):
            runpath.plan_named(connection, "nope")
    assert found is not None
    assert found[0] == user
    with db.transaction() as session:
        assert found[1] == plans.require(session, "pro")
        assert guest == plans.require(session, "guest")
    assert found[1].languages == ("python", "c")


def test_the_last_run_of_the_day_goes_to_exactly_one_of_many_racers(db: Database) -> None:
    day = DAY.date()

    def spend(_: int) -> int | None:
        with db.connection() as connection:
            return runpath.spend(connection, "user:1", day, 5)

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(spend, range(24)))
    assert sorted(n for n in outcomes if n is not None) == [1, 2, 3, 4, 5]
    assert outcomes.count(None) == 19
    with db.connection() as connection:
        assert runpath.runs_on(connection, "user:1", day) == 5
        assert runpath.runs_on(connection, "user:1", day.replace(day=18)) == 0
        assert runpath.spend(connection, "user:2", day, 0) is None
        assert runpath.runs_on(connection, "user:2", day) == 0


def test_a_transaction_that_fails_after_spending_spends_nothing(db: Database) -> None:
    with pytest.raises(RuntimeError), db.connection() as connection:
        assert runpath.spend(connection, "user:1", DAY.date(), 5) == 1
        raise RuntimeError("refused after the spend")
    with db.connection() as connection:
        assert runpath.runs_on(connection, "user:1", DAY.date()) == 0


def test_a_recorded_run_reads_back_through_the_run_log_and_finishes_once(db: Database) -> None:
    _record(db, "a" * 32)
    with db.transaction() as session:
        queued = runs.get(session, "user:1", "a" * 32)
    assert queued is not None
    assert (queued.status, queued.code, queued.stdin, queued.args) == (
        "queued",
        "print('é')",
        "in",
        ("a", "b"),
    )
    assert queued.files == [{"name": "main.py", "content": "print('é')"}]
    assert (queued.api, queued.api_request, queued.limits) == (
        "piston",
        {"version": "3"},
        {"time_s": 1.5},
    )
    assert queued.created_at == DAY and queued.result is None

    result = RunResult(
        language="python",
        status=Status.OK,
        exit_code=0,
        stdout="\ufffd\n",
        raw=RawOutput(b"\xff\n", b"warn"),
    )
    with db.connection() as connection:
        assert runpath.finish(connection, "a" * 32, result, DAY, queue_wait_s=0.25)
    with db.connection() as connection:
        again = RunResult(language="python", status=Status.TIMEOUT)
        assert not runpath.finish(connection, "a" * 32, again, DAY)
        assert not runpath.finish(connection, "b" * 32, again, DAY)
    with db.transaction() as session:
        done = runs.get(session, "user:1", "a" * 32)
        assert usage.runs_on(session, "user:1", DAY.date()) == 1
    assert done is not None and done.status == "ok" and done.result is not None
    assert done.result.output_bytes() == RawOutput(b"\xff\n", b"warn", None)
    assert done.result.exit_code == 0
    assert done.finished_at == DAY
    assert done.started_at is not None and (done.started_at - DAY).total_seconds() == 0.25


def test_an_internal_error_gives_the_guest_address_its_run_back(db: Database) -> None:
    owner = usage.owner_of("guest:1.2.3.4", "browser-1")
    _record(db, "c" * 32, subject=owner)
    failed = RunResult.internal_error("python", "the service failed")
    with db.connection() as connection:
        assert runpath.finish(connection, "c" * 32, failed, DAY)
    with db.transaction() as session:
        record = runs.get(session, owner, "c" * 32)
        assert usage.runs_on(session, "guest:1.2.3.4", DAY.date()) == 0
    assert record is not None and record.status == "internal_error"
