"""The ways the benchmark runs one hello world, each a :class:`Mode`.

bare: the interpreter as a plain process (with the sandbox's environment); engine:
``Engine.run`` in this process on a backend (native, Docker); http: ``POST
/api/editor/run`` to an ``execbox serve`` the benchmark started; docker run: the
design's first sketch, ``docker run --memory=128m --cpus=0.5 --network=none
--read-only`` of the language's image.  Every mode checks the program's output, so a
mode that runs nothing cannot look fast.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from execbox.bench.quiet import wait_quiet
from execbox.engine import Engine
from execbox.errors import ExecboxError
from execbox.languages import Language
from execbox.languages.registry import HOST_PATH
from execbox.limits import resolve_limits
from execbox.sandbox.docker.images.catalog import image_for
from execbox.settings import Settings

PROGRAMS = {"python": "print('Hello')\n", "javascript": "console.log('Hello');\n"}
EXPECTED = "Hello\n"


class BenchError(ExecboxError):
    """A benchmarked run did not print what the program prints: the figures would lie."""


@dataclass
class Mode:
    """One way to run the language's hello world; ``run`` raises :class:`BenchError` when
    the program's output is not what it prints."""

    name: str
    run: Callable[[], None]
    close: Callable[[], None] = field(default=lambda: None)
    settle: Callable[[], None] = field(default=lambda: None)
    """Wait until the background work a run left (its sandbox torn down, a warm one started
    in its place) is done: called after each timed run, untimed, so that the next mode's
    run does not pay for it."""


def bare(language: Language, directory: Path) -> Mode:
    (directory / language.source_file).write_text(PROGRAMS[language.id])
    argv = list(language.run)
    argv[0] = shutil.which(argv[0], path=HOST_PATH) or argv[0]
    # The sandbox's environment, not the host's: the host's may make a program do more
    # (NODE_EXTRA_CA_CERTS here costs Node.js some 40 ms) and flatter the sandbox.
    env = {"PATH": HOST_PATH, "HOME": str(directory), "LANG": "C.UTF-8"}

    def run() -> None:
        done = subprocess.run(argv, cwd=directory, env=env, capture_output=True, check=False)
        _expect("bare", done.stdout.decode(errors="replace"), done.returncode == 0)

    return Mode("bare", run)


def engine(name: str, language: Language, engine: Engine, settings: Settings) -> Mode:
    limits = resolve_limits(settings, language=language.limits)
    code = PROGRAMS[language.id]

    def run() -> None:
        result = engine.run(language, code, limits=limits)
        _expect(name, result.stdout, result.status == "ok", result.message)

    backend = engine.backend

    def settle() -> None:
        for wait in ("settle", "wait_warm"):  # the native backend's teardowns, warm pool
            method = getattr(backend, wait, None)
            if method is not None:
                method()
        wait_quiet()  # the sandboxes it started done with their mounts

    def close() -> None:
        method = getattr(backend, "close", None)  # its warm sandboxes gone, before the next
        if method is not None:
            method()

    return Mode(name, run, close, settle)


def docker_run(language: Language, settings: Settings, directory: Path) -> Mode | None:
    """``docker run`` of the language's image as first sketched; None without Docker or
    the image."""
    docker = shutil.which("docker")
    image = image_for(settings, language.id)
    if docker is None or image is None:
        return None
    probe = subprocess.run(
        [docker, "image", "inspect", image], capture_output=True, check=False, timeout=30
    )
    if probe.returncode != 0:
        return None
    source = directory / f"docker-{language.source_file}"
    source.write_text(PROGRAMS[language.id])
    source.chmod(0o644)
    argv = [
        docker, "run", "--rm", "--memory=128m", "--cpus=0.5", "--network=none", "--read-only",
        "-v", f"{source}:/box/{language.source_file}:ro", "-w", "/box", image, *language.run,
    ]  # fmt: skip

    def run() -> None:
        done = subprocess.run(argv, capture_output=True, check=False, timeout=120)
        _expect("docker run", done.stdout.decode(errors="replace"), done.returncode == 0)

    return Mode("docker run", run)


def http(
    language: Language,
    post: Callable[[dict[str, str]], dict[str, object]],
    settle: Callable[[], None],
) -> Mode:
    body = {"language": language.id, "code": PROGRAMS[language.id]}

    def run() -> None:
        answer = post(body)
        output = answer.get("output")
        stdout = output.get("stdout") if isinstance(output, dict) else None
        _expect("http", str(stdout), answer.get("status") == "ok", str(answer.get("message")))

    return Mode("http", run, settle=settle)


def _expect(mode: str, stdout: str, ok: bool, why: object = "") -> None:
    if not ok or stdout != EXPECTED:
        raise BenchError(f"{mode}: the hello world failed ({why or 'exit'}): {stdout[:200]!r}")
