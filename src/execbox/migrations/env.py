"""Alembic environment: migrates the connection ``Database.migrate`` hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from execbox.store.models import Base

config = context.config
connection = config.attributes.get("connection")


def _run(conn: object) -> None:
    context.configure(
        connection=conn,  # type: ignore[arg-type]
        target_metadata=Base.metadata,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    _run(connection)
else:  # the alembic command line, for operators: the URL from sqlalchemy.url
    url = config.get_main_option("sqlalchemy.url")
    assert url, "set sqlalchemy.url"
    with create_engine(url).begin() as conn:
        _run(conn)
