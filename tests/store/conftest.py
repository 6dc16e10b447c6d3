"""Store tests run against SQLite and a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from execbox.store import Database, plans, utcnow
from tests.store.databases import DIALECTS, fresh_database


@pytest.fixture(params=DIALECTS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with fresh_database(str(request.param), tmp_path) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    with database.transaction() as session:
        plans.ensure_builtin(session, utcnow())
    yield database
    database.close()
