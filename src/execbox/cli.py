"""The ``execbox`` command line: a thin layer over the engine and the service.

Exit status of ``execbox run`` follows isolate: 0 the program's status is
``ok``, 1 the program failed (any other status but ``internal_error``), 2 a
usage error or ``internal_error``.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer
from typer._click.core import Context as ClickContext
from typer.core import TyperCommand

from execbox.bench.cli import register as _register_bench
from execbox.errors import ConfigError, ExecboxError, RequestError
from execbox.live import LiveRun
from execbox.results import RunResult, Status
from execbox.sandbox.docker.images.cli import register as _register_images
from execbox.service.cli import register as _register_service
from execbox.settings import Settings, load_settings

app = typer.Typer(
    help="Run untrusted code in fresh, isolated, limited sandboxes.",
    no_args_is_help=True,
    add_completion=False,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _fail(message: str) -> typer.Exit:
    typer.echo(f"execbox: {message}", err=True)
    return typer.Exit(EXIT_USAGE)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**overrides)
    except ConfigError as exc:
        raise _fail(str(exc)) from exc


class _ProgramArgs(TyperCommand):
    """Everything after the first ``--`` goes to the program, not to the list of files."""

    def parse_args(self, ctx: ClickContext, args: list[str]) -> list[str]:
        if "--" in args:
            cut = args.index("--")
            ctx.meta["program_args"] = args[cut + 1 :]
            args = args[:cut]
        return super().parse_args(ctx, args)


@app.command(cls=_ProgramArgs)
def run(
    ctx: typer.Context,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="source files; the first is the entry point, the others go beside it",
            show_default=False,
        ),
    ],
    language: Annotated[str | None, typer.Option("--language", "-l", help="language id")] = None,
    stdin: Annotated[str | None, typer.Option(help="file to feed as stdin, '-' for ours")] = None,
    time_limit: Annotated[float | None, typer.Option(help="wall-clock limit, seconds")] = None,
    memory_limit: Annotated[int | None, typer.Option(help="memory limit, MB")] = None,
    backend: Annotated[
        Literal["native", "docker"] | None, typer.Option(help="sandbox backend")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result object")] = False,
) -> None:
    """Run FILES in a fresh sandbox (language from the first one's extension unless given);
    args after --.  Extra files keep their names relative to the first file's folder.

    With --json a result object is printed whatever happens: a usage error or a failure
    of execbox itself is an ``internal_error`` object with the message (exit status 2).
    """
    program_args: list[str] = ctx.meta.get("program_args", [])
    request = _RunRequest(
        files,
        language,
        stdin,
        time_limit,
        memory_limit,
        backend,
        program_args,
        stream=not as_json,
    )
    try:
        result = _run(request)
    except _Refused as refused:
        if as_json:
            failed = RunResult.internal_error(refused.language or language or "", refused.message)
            _print_result(failed, as_json=True)
        raise _fail(refused.message) from refused
    except Exception as exc:  # a bug: still one result object, and the traceback on stderr
        if not as_json:
            raise
        traceback.print_exc()
        message = f"execbox failed unexpectedly: {type(exc).__name__}: {exc}"
        _print_result(RunResult.internal_error(language or "", message), as_json=True)
        raise typer.Exit(EXIT_USAGE) from exc
    # An internal error before the program ran streamed nothing: print it whole.
    _print_result(result, as_json, streamed=request.stream and result.raw is not None)
    if result.status is Status.OK:
        raise typer.Exit(EXIT_OK)
    raise typer.Exit(EXIT_USAGE if result.status is Status.INTERNAL_ERROR else EXIT_FAILED)


@dataclass(frozen=True)
class _RunRequest:
    files: list[Path]
    language: str | None
    stdin: str | None
    time_limit: float | None
    memory_limit: int | None
    backend: str | None
    args: list[str]
    stream: bool = False
    """The program's output goes to ours as it is written (not with --json)."""


class _Refused(Exception):
    """``execbox run`` cannot run the file as asked; exit 2 with ``message``."""

    def __init__(self, message: str, language: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.language = language


def _run(request: _RunRequest) -> RunResult:
    from execbox.engine import Engine
    from execbox.languages import load_registry
    from execbox.limits import LimitOverrides, resolve_limits
    from execbox.program import SourceFile
    from execbox.sandbox.factory import create_backend

    try:
        # One run: no sandbox is worth starting ahead of time.
        settings = load_settings(backend=request.backend, warm_sandboxes=0)
    except ConfigError as exc:
        raise _Refused(str(exc)) from exc
    sources: list[SourceFile] = []
    base = request.files[0].parent
    for path in request.files:
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise _Refused(f"cannot read {path}: {exc.strerror}") from exc
        sources.append(SourceFile(_name_beside(path, base), content))
    stdin_bytes = _read_stdin(request.stdin)
    forward = request.stdin is None and _forwardable_stdin()
    lang_id = request.language
    try:
        registry = load_registry()
        entry = request.files[0].name
        lang = registry.get(lang_id) if lang_id else registry.for_filename(entry)
        lang_id = lang.id
        limits = resolve_limits(
            settings,
            language=lang.limits,
            request=LimitOverrides(
                time_limit_s=request.time_limit, memory_limit_mb=request.memory_limit
            ),
        )
        engine = Engine(settings, registry, create_backend(settings))
        if not (request.stream or forward):
            return engine.run(lang, sources, limits=limits, stdin=stdin_bytes, args=request.args)
        live = LiveRun(
            _Terminal() if request.stream else _discard,
            stdin=stdin_bytes,
            max_pending_input=settings.max_pending_input_bytes,
        )
        if forward:
            _forward_stdin(live)
        else:
            live.end_input()
        return _run_live(
            lambda: engine.run(lang, sources, limits=limits, args=request.args, live=live), live
        )
    except RequestError as exc:
        raise _Refused(exc.message, lang_id) from exc
    except ExecboxError as exc:
        raise _Refused(str(exc), lang_id) from exc


def _name_beside(path: Path, base: Path) -> str:
    """``path``'s name in the run directory: relative to the entry file's folder when it is
    inside it (``lib/util.py``), else its bare name."""
    try:
        return path.relative_to(base).as_posix()
    except ValueError:
        return path.name


class _Terminal:
    """Output of a live run written to ours as it comes (compile output on stderr)."""

    stage = "run"

    def __call__(self, stream: str, data: bytes) -> None:
        if stream == "stage":
            self.stage = data.decode()
            return
        out = sys.stdout if stream == "stdout" and self.stage == "run" else sys.stderr
        out.buffer.write(data)
        out.buffer.flush()


def _discard(_stream: str, _data: bytes) -> None:
    """--json prints the result object only."""


def _forwardable_stdin() -> bool:
    """Our stdin is a terminal or a pipe: forwarded to the program as it comes."""
    try:
        mode = os.fstat(0).st_mode
    except OSError:
        return False
    return os.isatty(0) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def _forward_stdin(live: LiveRun) -> None:
    """Feed our stdin to the program from a thread, until its end (Ctrl-D on a terminal)."""

    def pump() -> None:
        while True:
            try:
                data = os.read(0, 65536)
            except OSError:
                data = b""
            if not data:
                live.end_input()
                return
            while not live.feed(data):
                if live.stop_reason is not None:
                    return
                time.sleep(0.05)

    threading.Thread(target=pump, name="execbox-cli-stdin", daemon=True).start()


def _run_live(work: Callable[[], RunResult], live: LiveRun) -> RunResult:
    """``work`` in a thread, so that Ctrl-C stops the program (and the result is printed)."""
    box: list[RunResult | BaseException] = []

    def target() -> None:
        try:
            box.append(work())
        except BaseException as exc:
            box.append(exc)

    thread = threading.Thread(target=target, name="execbox-cli-run")
    thread.start()
    while thread.is_alive():
        try:
            thread.join(0.2)
        except KeyboardInterrupt:
            live.stop("Stopped: interrupted (Ctrl-C).")
    outcome = box[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _read_stdin(stdin: str | None) -> bytes:
    try:
        if stdin == "-":
            return sys.stdin.buffer.read()
        if stdin is not None:
            return Path(stdin).read_bytes()
    except OSError as exc:
        raise _Refused(f"cannot read stdin: {exc.strerror or exc}") from exc
    return b""


def _print_result(result: RunResult, as_json: bool, *, streamed: bool = False) -> None:
    """The result: as JSON, or the output (unless it was streamed) and a status line."""
    if as_json:
        typer.echo(json.dumps(result.to_wire(), ensure_ascii=False))
        return
    if not streamed:
        if result.compile_output:
            sys.stderr.write(result.compile_output)
        sys.stdout.write(result.stdout)
        sys.stdout.flush()
        sys.stderr.write(result.stderr)
    if result.status is not Status.OK:
        sys.stderr.write(f"execbox: {result.status}: {result.message}\n")
    sys.stderr.write(
        f"execbox: {result.language} {result.version or ''} exit={result.exit_code} "
        f"signal={result.signal} time={result.duration_ms:.1f}ms cpu={result.cpu_time_ms:.1f}ms "
        f"memory={result.memory_used / 1048576:.1f}MB\n"
    )


@app.command()
def languages(
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    backend: Annotated[
        Literal["native", "docker"] | None, typer.Option(help="sandbox backend (default: settings)")
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="also the languages not installed, with their packages")
    ] = False,
) -> None:
    """The languages usable on this host, with the versions programs run with."""
    from execbox.languages import load_registry
    from execbox.sandbox.factory import create_backend, offered, versions

    settings = _settings(backend=backend)
    sandbox = create_backend(settings)
    registry = load_registry()
    usable = {lang.id: version for lang, version in versions(offered(registry, sandbox), sandbox)}
    rows: list[dict[str, object]] = []
    for lang in registry.all():
        if not every and lang.id not in usable:
            continue
        row: dict[str, object] = {
            "id": lang.id,
            "name": lang.name,
            "version": usable.get(lang.id),
            "aliases": lang.aliases,
        }
        if every:
            row["installed"] = lang.id in usable
            row["packages"] = lang.packages
        rows.append(row)
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        aliases = ", ".join(row["aliases"])  # type: ignore[arg-type]
        line = f"{row['id']:<12} {row['version'] or '?':<10} {row['name']}  ({aliases})"
        if every and not row["installed"]:
            line = f"{row['id']:<12} {'-':<10} {row['name']}  (not installed: apt-get install "
            line += " ".join(row["packages"]) + ")"  # type: ignore[arg-type]
        typer.echo(line)


@app.command()
def doctor(
    backend: Annotated[
        Literal["native", "docker"] | None, typer.Option(help="check only this backend")
    ] = None,
    languages: Annotated[
        str, typer.Option(help="run only these languages' test programs (ID,ID...)")
    ] = "",
) -> None:
    """Say which sandbox backends work on this host, which languages each runs, what to fix."""
    from execbox.doctor import diagnose

    settings = _settings(warm_sandboxes=0)  # one run per language: nothing to start ahead
    backends = [backend] if backend else ["native", "docker"]
    wanted = [name.strip() for name in languages.split(",") if name.strip()]
    try:
        healthy = diagnose(settings, backends, echo=typer.echo, languages=wanted)
    except RequestError as exc:
        raise _fail(exc.message) from exc
    raise typer.Exit(EXIT_OK if healthy else EXIT_FAILED)


@app.command()
def config() -> None:
    """Print the configuration reference: every setting, its variable, default and bounds."""
    from execbox.settings_reference import reference

    typer.echo(reference())


_register_service(app)
_register_bench(app)
_register_images(app)


def main() -> None:
    app()
