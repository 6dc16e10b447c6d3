"""Test databases: a fresh SQLite file, or a fresh database on the test PostgreSQL server.

``scripts/test-services`` starts PostgreSQL on loopback and writes its URL to
``.test-services.env``.  Without it the PostgreSQL variants are skipped, except
under CI (``CI=true``), where a missing server is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[2]
DIALECTS = ["sqlite", "postgresql"]


def postgres_admin_url() -> str | None:
    url = os.environ.get("EXECBOX_TEST_DATABASE_URL")
    env_file = ROOT / ".test-services.env"
    if not url and env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "EXECBOX_TEST_DATABASE_URL" and value.strip():
                url = value.strip()
    return url


@contextmanager
def fresh_database(dialect: str, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty database of ``dialect``, dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{tmp_path / 'execbox.db'}"
        return
    admin = postgres_admin_url()
    if admin is None:
        message = "no PostgreSQL for tests: run scripts/test-services"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(message)
        pytest.skip(message)
    name = f"execbox_t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()
