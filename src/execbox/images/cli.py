"""``execbox images``: filled in by the Docker backend work."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the image commands to the main command line."""
