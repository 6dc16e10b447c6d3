"""The run log stores output compactly, keeps rows written before that readable, and forgets
old runs when an operator says so, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import LargeBinary, text

from execbox.results import RawOutput, RunResult, Status
from execbox.store import Database, runpath, runs
from execbox.store.models import RunRow

DAY = datetime(2030, 5, 17, 12, 0, 0)
MIB = 1 << 20


def stored_bytes(db: Database, run_id: str) -> int:
    """What one row of the run log holds, every column's bytes summed (before any
    compression PostgreSQL may apply: this is what a read brings back)."""
    parts = []
    for column in RunRow.__table__.columns:
        if db.dialect == "sqlite":
            parts.append(f"coalesce(length(CAST({column.name} AS BLOB)), 0)")
        elif isinstance(column.type, LargeBinary):
            parts.append(f"coalesce(octet_length({column.name}), 0)")
        else:
            parts.append(f"coalesce(octet_length(CAST({column.name} AS text)), 0)")
    with db.engine.connect() as connection:
        size = connection.execute(
            text(f"SELECT {' + '.join(parts)} FROM runs WHERE id = :id"), {"id": run_id}
        ).scalar_one()
    return int(size)


def queue(db: Database, run_id: str, subject: str = "user:1", now: datetime = DAY) -> None:
    with db.transaction() as session:
        runpath.record_queued(
            session.connection(),
            run_id=run_id,
            subject=subject,
            user_id=None,
            plan="free",
            language="python",
            code="print(1)",
            stdin="",
            args=[],
            now=now,
        )


def test_binary_output_costs_its_size_in_the_run_log_not_six_times_it(db: Database) -> None:
    run_id = "c" * 32
    queue(db, run_id)
    raw = RawOutput(stdout=b"\xff" * MIB, stderr=b"\x01" * MIB)
    result = RunResult(
        language="python",
        status=Status.OK,
        exit_code=0,
        stdout="\ufffd" * MIB,
        stderr="\x01" * MIB,
        raw=raw,
    )
    with db.transaction() as session:
        runs.finish(session, run_id, result, DAY)

    size = stored_bytes(db, run_id)
    assert 2 * MIB <= size < 2 * MIB + 4096, size  # the JSON text of before: about 12 MB
    with db.transaction() as session:
        record = runs.get(session, "user:1", run_id)
    assert record is not None and record.result is not None
    assert record.result.stdout == "\ufffd" * MIB and record.result.stderr == "\x01" * MIB
    assert record.result.raw == raw  # the program's exact bytes, for APIs that return them
    assert record.result.compile_output is None and record.result.exit_code == 0


def test_output_text_without_bytes_and_compile_output_round_trip(db: Database) -> None:
    run_id = "d" * 32
    queue(db, run_id)
    result = RunResult(
        language="c",
        status=Status.COMPILE_ERROR,
        message="Compilation failed.",
        compile_output="main.c:1: error: ‘x’ undeclared\x00 after NUL",
        stdout="",
        exit_code=1,
    )
    with db.transaction() as session:
        runs.finish(session, run_id, result, DAY)
    with db.transaction() as session:
        record = runs.get(session, "user:1", run_id)
    assert record is not None and record.result is not None
    assert record.result.to_wire() == result.to_wire()
    assert record.status == "compile_error"


def test_rows_written_before_the_bytes_columns_read_back_unchanged(database_url: str) -> None:
    db = Database(database_url)
    try:
        db.migrate("0001")
        old = RunResult(
            language="python",
            status=Status.RUNTIME_ERROR,
            message="The program exited with code 1.",
            exit_code=1,
            stdout="caf\u00e9 \ufffd\x01\n",
            stderr="Traceback…\n",
            duration_ms=12.5,
            memory_used=9_830_400,
        )
        with db.engine.begin() as connection:
            connection.execute(
                RunRow.__table__.insert().values(  # type: ignore[attr-defined]
                    id="e" * 32,
                    subject="guest:203.0.113.9",
                    user_id=None,
                    plan="guest",
                    language="python",
                    code="import sys; sys.exit(1)",
                    stdin="",
                    args=[],
                    status="runtime_error",
                    result=old.model_dump(mode="json"),  # how 0001 stored a result
                    usage_day=DAY.date(),
                    charged=True,
                    created_at=DAY,
                    finished_at=DAY,
                )
            )
        db.migrate()
        with db.transaction() as session:
            record = runs.get(session, "guest:203.0.113.9", "e" * 32)
        assert record is not None and record.result is not None
        assert record.result.to_wire() == old.to_wire()
        assert record.result.output_bytes().stdout == "caf\u00e9 \ufffd\x01\n".encode()
        with db.engine.connect() as connection:
            kept = connection.execute(text("SELECT result FROM runs")).scalar_one()
        assert "stdout" not in str(kept)  # moved out of the JSON, not kept twice
    finally:
        db.close()
