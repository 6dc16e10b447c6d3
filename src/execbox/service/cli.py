"""Service commands: ``serve``, ``users ...`` and ``plans ...``.

They work on the database the settings name (``EXECBOX_DATA_DIR`` /
``EXECBOX_DATABASE_URL``), migrating it first, so they work on a fresh machine
and on a server that is running (changes apply to its next request).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.orm import Session

from execbox.errors import ConfigError, UnknownLanguage
from execbox.settings import load_settings
from execbox.store import Database, Plan, plans, users, utcnow

T = TypeVar("T")

users_app = typer.Typer(help="Users and their API keys.", no_args_is_help=True)
plans_app = typer.Typer(
    help="Plans: daily runs, code size, limits, languages.", no_args_is_help=True
)


def _with_store(work: Callable[[Session], T]) -> T:
    try:
        db = Database(load_settings().effective_database_url)
        try:
            db.migrate()
            with db.transaction() as session:
                plans.ensure_builtin(session, utcnow())
                return work(session)
        finally:
            db.close()
    except ConfigError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(2) from exc


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
    workers: Annotated[
        int | None, typer.Option(help="runs at once (default: two per core, at least 4)")
    ] = None,
) -> None:
    """Serve the web editor, the API and the workers on an embedded database."""
    from execbox.service.server import serve as run_server

    given = {"host": host, "port": port, "workers": workers}
    try:
        settings = load_settings(**given)
    except ConfigError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(2) from exc
    run_server(settings)


def api(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Serve the API and the web editor without sandboxes: runs go to `execbox worker`
    processes through Redis (EXECBOX_REDIS_URL), on a shared database (EXECBOX_DATABASE_URL).
    Needs no root."""
    from execbox.service.server import serve_api

    try:
        settings = load_settings(host=host, port=port)
        if settings.redis_url is None:
            raise ConfigError("EXECBOX_REDIS_URL is not set (redis://host:port/db)")
    except ConfigError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(2) from exc
    serve_api(settings)


def worker(
    concurrency: Annotated[
        int | None, typer.Option(help="runs at once (default: one per core)")
    ] = None,
) -> None:
    """Take runs from the queue (EXECBOX_REDIS_URL) and run them in this host's sandboxes;
    results go to the shared database (EXECBOX_DATABASE_URL).  SIGTERM: finish the runs
    held, take no new ones."""
    import logging

    from execbox.worker.start import run_worker

    try:
        settings = load_settings(workers=concurrency)
        if settings.redis_url is None:
            raise ConfigError("EXECBOX_REDIS_URL is not set (redis://host:port/db)")
    except ConfigError as exc:
        typer.echo(f"execbox: {exc}", err=True)
        raise typer.Exit(2) from exc
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("saq").setLevel(logging.WARNING)  # a line per job otherwise
    raise typer.Exit(run_worker(settings, settings.workers))


@users_app.command("create")
def users_create(
    name: str, plan: Annotated[str, typer.Option(help="the user's plan")] = "free"
) -> None:
    """Create a user; the API key is the last line printed (it is not shown again)."""
    user, key = _with_store(lambda s: users.create(s, name, plan, utcnow()))
    typer.echo(f"created user {user.name} on plan {user.plan}; API key:")
    typer.echo(key)


@users_app.command("list")
def users_list() -> None:
    """List users with their plan and state."""
    for user in _with_store(users.list_all):
        state = "disabled" if user.disabled else "active"
        typer.echo(f"{user.name}\t{user.plan}\t{state}\t{user.created_at:%Y-%m-%d %H:%M}Z")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """Disable a user: their key stops working at once."""
    _with_store(lambda s: users.set_disabled(s, name, True))
    typer.echo(f"disabled user {name}")


@users_app.command("enable")
def users_enable(name: str) -> None:
    """Enable a disabled user again."""
    _with_store(lambda s: users.set_disabled(s, name, False))
    typer.echo(f"enabled user {name}")


@users_app.command("set-plan")
def users_set_plan(name: str, plan: str) -> None:
    """Move a user to another plan."""
    _with_store(lambda s: users.set_plan(s, name, plan))
    typer.echo(f"user {name} is on plan {plan}")


@users_app.command("rotate-key")
def users_rotate_key(name: str) -> None:
    """Give a user a new API key (the last line printed); the old one stops working."""
    key = _with_store(lambda s: users.rotate_key(s, name))
    typer.echo(f"new API key for {name}:")
    typer.echo(key)


def _describe(plan: Plan) -> str:
    langs = ",".join(plan.languages) if plan.languages is not None else "*"
    return (
        f"{plan.name}\tdaily-runs={plan.daily_runs}\tmax-code-bytes={plan.max_code_bytes}\t"
        f"time-limit={plan.time_limit_s:g}s\tmemory-limit={plan.memory_limit_mb}MB\tlanguages={langs}"
    )


@plans_app.command("set")
def plans_set(
    name: str,
    daily_runs: Annotated[int | None, typer.Option(help="runs a day")] = None,
    max_code_bytes: Annotated[int | None, typer.Option(help="largest code, bytes")] = None,
    time_limit: Annotated[float | None, typer.Option(help="most a run may ask, seconds")] = None,
    memory_limit: Annotated[int | None, typer.Option(help="most a run may ask, MB")] = None,
    languages: Annotated[
        str | None, typer.Option(help="comma-separated language ids, or '*' for every one")
    ] = None,
) -> None:
    """Create or update a plan (a new plan starts from free's values)."""
    langs: tuple[str, ...] | str | None = None
    if languages is not None:
        names = tuple(part.strip() for part in languages.split(",") if part.strip())
        langs = "*" if names in ((), ("*",)) else _language_ids(names)

    def work(session: Session) -> Plan:
        changes: dict[str, object] = {
            "daily_runs": daily_runs,
            "max_code_bytes": max_code_bytes,
            "time_limit_s": time_limit,
            "memory_limit_mb": memory_limit,
        }
        if langs == "*":
            plans.set_plan(session, name, utcnow(), **changes)
            return plans.set_languages(session, name, None, utcnow())
        changes["languages"] = langs
        return plans.set_plan(session, name, utcnow(), **changes)

    typer.echo(_describe(_with_store(work)))


def _language_ids(names: tuple[str, ...]) -> tuple[str, ...]:
    """Language ids for ids or aliases (``py`` is ``python``); exit 2 naming an unknown one."""
    from execbox.languages import load_registry

    registry = load_registry()
    ids: list[str] = []
    for name in names:
        try:
            language = registry.get(name)
        except UnknownLanguage as exc:
            typer.echo(f"execbox: {exc.message}", err=True)
            raise typer.Exit(2) from exc
        if language.id not in ids:
            ids.append(language.id)
    return tuple(ids)


@plans_app.command("list")
def plans_list() -> None:
    """List plans."""
    for plan in _with_store(plans.list_all):
        typer.echo(_describe(plan))


def register(app: typer.Typer) -> None:
    """Add the service's commands to the main command line."""
    app.command("serve")(serve)
    app.command("api")(api)
    app.command("worker")(worker)
    app.add_typer(users_app, name="users")
    app.add_typer(plans_app, name="plans")
