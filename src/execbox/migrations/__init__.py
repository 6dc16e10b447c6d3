"""Alembic migrations of the execbox database (run by ``Database.migrate``)."""
