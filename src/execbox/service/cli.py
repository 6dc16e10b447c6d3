"""Service commands (serve, users, plans); filled in by the service work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the service's commands to the main command line."""
