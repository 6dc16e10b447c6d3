"""The ``execbox`` command line: a thin layer over the engine and the service.

Exit status of ``execbox run`` follows isolate: 0 the program's status is
``ok``, 1 the program failed (any other status but ``internal_error``), 2 a
usage error or ``internal_error``.
"""

from __future__ import annotations

import typer

from execbox.images.cli import register as _register_images
from execbox.service.cli import register as _register_service

app = typer.Typer(
    help="Run untrusted code in fresh, isolated, limited sandboxes.",
    no_args_is_help=True,
    add_completion=False,
)

_register_service(app)
_register_images(app)


def main() -> None:
    app()
