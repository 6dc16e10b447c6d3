"""``execbox bench`` and ``execbox soak``."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from execbox.errors import ConfigError, ExecboxError
from execbox.settings import Settings, load_settings


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(2) from exc


def bench(
    runs: Annotated[int, typer.Option(min=1, help="runs per program and mode")] = 30,
    concurrency: Annotated[int, typer.Option(min=1, help="parallel runs for throughput")] = 4,
    mode: Annotated[
        list[str] | None,
        typer.Option(help="only these modes (repeatable): engine, http, docker, 'docker run'"),
    ] = None,
    language: Annotated[
        list[str] | None, typer.Option(help="only these languages (python, javascript)")
    ] = None,
    phases: Annotated[
        bool, typer.Option(help="also print the engine runs' sandbox phases (p50, p90)")
    ] = False,
) -> None:
    """Benchmark bare processes, the engine, the HTTP API and Docker side by side."""
    from execbox.bench.modes import PROGRAMS
    from execbox.bench.table import MODES, main

    only = tuple(mode) if mode else MODES
    languages = tuple(language) if language else tuple(PROGRAMS)
    unknown = [m for m in only if m not in MODES] + [x for x in languages if x not in PROGRAMS]
    if unknown:
        typer.echo(f"execbox: unknown mode or language: {', '.join(unknown)}", err=True)
        raise typer.Exit(2)
    try:
        main(
            _settings(),
            runs=runs,
            concurrency=concurrency,
            echo=typer.echo,
            only=only,
            languages=languages,
            phases=phases,
        )
    except ExecboxError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(1) from exc


def soak(
    runs: Annotated[int, typer.Option(min=1, help="hello worlds through HTTP")] = 10_000,
    concurrency: Annotated[int, typer.Option(min=1, help="parallel requests")] = 4,
    uid_base: Annotated[
        int | None,
        typer.Option(help="first sandbox uid of the service (default: a range of its own)"),
    ] = None,
) -> None:
    """Soak an `execbox serve` with hello worlds; report its memory and what was left behind.

    Exit status 1 if a run failed or anything was left behind."""
    from execbox.bench.soak import soak as run_soak

    base = uid_base if uid_base is not None else 3_000_000 + (os.getpid() % 4000) * 256
    settings = _settings(sandbox_uid_base=base, sandbox_uid_count=64)
    try:
        report = run_soak(settings, runs=runs, concurrency=concurrency, echo=typer.echo)
    except ExecboxError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(1) from exc
    raise typer.Exit(0 if report.clean else 1)


def register(app: typer.Typer) -> None:
    app.command("bench")(bench)
    app.command("soak")(soak)
