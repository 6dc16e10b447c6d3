"""Persistence: plans, users, the run log and usage, through SQLAlchemy (SQLite or PostgreSQL).

Each module holds the queries of one table and takes an open ``Session``;
callers group them in ``Database.transaction()`` so that what must happen
together (record a run and spend its quota) commits together.  The statements
every run request makes are in :mod:`execbox.store.runpath`, as Core on a
``Database.connection()`` (the ORM costs more than they do).
"""

from execbox.store.db import Clock, Database, utcnow
from execbox.store.plans import Plan
from execbox.store.runs import RunRecord
from execbox.store.users import User

__all__ = ["Clock", "Database", "Plan", "RunRecord", "User", "utcnow"]
