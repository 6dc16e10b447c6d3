"""The run log forgets what the operator's retention says, and nothing else, on SQLite and
PostgreSQL: queued runs stay, and quotas count what they counted before."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from execbox.results import RunResult, Status
from execbox.store import Database, runpath, runs, usage
from execbox.store.models import RunRow
from execbox.store.retention import Retention, prune

NOW = datetime(2030, 5, 17, 12, 0, 0)


def add_run(db: Database, run_id: str, created: datetime, *, finished: bool = True) -> None:
    with db.transaction() as session:
        assert usage.try_spend(session, "user:1", created.date(), 1000)
        runpath.record_queued(
            session.connection(),
            run_id=run_id,
            subject="user:1",
            user_id=None,
            plan="free",
            language="python",
            code="print(1)",
            stdin="",
            args=[],
            now=created,
        )
        if finished:
            result = RunResult(language="python", status=Status.OK, stdout="1\n")
            runs.finish(session, run_id, result, created)


def run_ids(db: Database) -> set[str]:
    with db.transaction() as session:
        return set(session.scalars(select(RunRow.id)))


def test_runs_older_than_the_age_go_queued_runs_and_todays_usage_stay(db: Database) -> None:
    old = NOW - timedelta(days=40)
    add_run(db, "old-1", old)
    add_run(db, "old-2", old + timedelta(hours=1))
    add_run(db, "old-queued", old, finished=False)
    add_run(db, "edge", NOW - timedelta(days=29, hours=23))
    add_run(db, "today", NOW)

    with db.transaction() as session:
        pruned = prune(session, NOW, Retention(max_age_days=30))
    assert pruned.runs == 2 and pruned.usage_days == 1
    assert run_ids(db) == {"old-queued", "edge", "today"}
    with db.transaction() as session:
        assert usage.runs_on(session, "user:1", NOW.date()) == 1
        assert usage.runs_on(session, "user:1", old.date()) == 0
        assert runs.get(session, "user:1", "today") is not None
        assert runs.get(session, "user:1", "old-1") is None
        again = prune(session, NOW, Retention(max_age_days=30))
    assert again.runs == 0 and again.usage_days == 0


def test_past_the_row_cap_the_oldest_finished_runs_go_and_usage_still_counts_them(
    db: Database,
) -> None:
    add_run(db, "queued-first", NOW - timedelta(hours=9), finished=False)
    for n in range(6):
        add_run(db, f"run-{n}", NOW - timedelta(hours=6 - n))
    add_run(db, "same-time-a", NOW)
    add_run(db, "same-time-b", NOW)

    with db.transaction() as session:
        pruned = prune(session, NOW, Retention(max_runs=3))
    assert pruned.runs == 5
    assert run_ids(db) == {"queued-first", "run-5", "same-time-a", "same-time-b"}
    with db.transaction() as session:
        assert usage.runs_on(session, "user:1", NOW.date()) == 9  # deleted runs still count
        assert [r.id for r in runs.recent(session, "user:1", 10)][:3] == [
            "same-time-b",
            "same-time-a",
            "run-5",
        ]


def test_without_a_setting_nothing_goes(db: Database) -> None:
    add_run(db, "ancient", NOW - timedelta(days=3650))
    with db.transaction() as session:
        assert prune(session, NOW, Retention()).runs == 0
    assert run_ids(db) == {"ancient"}
