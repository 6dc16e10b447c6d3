"""The run log keeps output as bytes in columns of its own, not inside the result JSON.

In JSON text a byte of output cost up to six (``\\u0001``; invalid UTF-8 became
U+FFFD, escaped as ``\\ufffd``): 1 MiB of ``0xFF`` on stdout and 1 MiB of
``0x01`` on stderr made a 12 MB row.  Existing rows are rewritten: their output
text moves, as UTF-8, into ``stdout``, ``stderr`` and ``compile_output``, so
they read back as they were.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OUTPUT = ("stdout", "stderr", "compile_output")
_BATCH = 200

_runs = sa.table(
    "runs",
    sa.column("id", sa.String),
    sa.column("result", sa.JSON),
    *(sa.column(name, sa.LargeBinary) for name in _OUTPUT),
)


def _batches(connection: sa.Connection) -> Any:
    """Rows with a result, ``_BATCH`` at a time in id order (never the whole table at once)."""
    last = ""
    while True:
        rows = connection.execute(
            sa.select(_runs)
            .where(_runs.c.result.is_not(None), _runs.c.id > last)
            .order_by(_runs.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        for name in _OUTPUT:
            batch.add_column(sa.Column(name, sa.LargeBinary, nullable=True))
    connection = op.get_bind()
    for rows in _batches(connection):
        for row in rows:
            result = dict(row.result)
            if not any(name in result for name in _OUTPUT):
                continue
            values: dict[str, Any] = {}
            for name in _OUTPUT:
                text = result.pop(name, None)
                values[name] = (
                    text.encode("utf-8", "surrogatepass") if isinstance(text, str) else None
                )
            values["stdout"] = values["stdout"] or b""
            values["stderr"] = values["stderr"] or b""
            connection.execute(
                _runs.update().where(_runs.c.id == row.id).values(result=result, **values)
            )


def downgrade() -> None:
    connection = op.get_bind()
    for rows in _batches(connection):
        for row in rows:
            result = dict(row.result)
            for name in _OUTPUT:
                data = getattr(row, name)
                if data is not None:
                    result[name] = data.decode("utf-8", "replace")
                elif name != "compile_output":
                    result[name] = ""
            connection.execute(_runs.update().where(_runs.c.id == row.id).values(result=result))
    with op.batch_alter_table("runs") as batch:
        for name in reversed(_OUTPUT):
            batch.drop_column(name)
