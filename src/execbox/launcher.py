"""The ``execbox`` command's entry point.

``execbox api`` is started without importing the rest of the command line, which loads
the sandbox backends: an API node must not load sandbox code (it needs no root and runs
none).  Every other command is :func:`execbox.cli.main`.

Every command prints each of its threads' stacks to stderr on SIGUSR1 and goes on (what
an operator, or a test, asks of a process that does not end when told to).
"""

from __future__ import annotations

import faulthandler
import signal
import sys


def main() -> None:
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    if len(sys.argv) > 1 and sys.argv[1] == "api":
        import typer

        from execbox.service.cli import api

        app = typer.Typer(add_completion=False)
        app.command()(api)  # the only command: it takes the arguments after "api"
        app(args=sys.argv[2:], prog_name="execbox api")
        return
    from execbox.cli import main as full

    full()
