"""The sandbox's own failures are ``internal_error`` with a message, on every backend.

Each test makes one host-side part of a step fail for real (or, where the host
cannot be made to fail on demand, raises the ``OSError`` that part would raise)
and checks the run ends ``internal_error`` saying what failed, never with a
program status, and that the same set-up runs a program normally otherwise.
"""

from __future__ import annotations

import errno
import os
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.errors import SandboxError, SandboxUnavailable
from execbox.languages import LanguageRegistry
from execbox.limits import resolve_limits
from execbox.results import Status
from execbox.sandbox.boundary import host_failures, sandbox_boundary
from execbox.sandbox.factory import create_backend
from execbox.sandbox.native import seccomp
from execbox.sandbox.native.backend import close_all
from execbox.sandbox.uids import UidPool
from execbox.settings import Settings
from tests.conftest import BACKENDS, make_settings

SENTINEL = "program-ran"
PROGRAM = f"print({SENTINEL!r})\n"


def _engine(settings: Settings, registry: LanguageRegistry) -> Engine:
    return Engine(settings, registry, create_backend(settings))


def _run_python(engine: Engine) -> Status | None:
    lang = engine.registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    return result.status


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_unusable_data_dir_is_internal_error_naming_it(
    backend: str, registry: LanguageRegistry
) -> None:
    # /proc/x cannot be created: the run directory's mkdir fails with a raw OSError.
    engine = _engine(make_settings(Path("/proc/x"), backend=backend), registry)
    lang = registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    assert result.status is Status.INTERNAL_ERROR, result
    assert result.message and "/proc/x" in result.message
    assert "stdin" not in result.message
    assert SENTINEL not in result.stdout


def test_a_cgroup_write_failure_is_internal_error(
    data_dir: Path, registry: LanguageRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execbox.sandbox.native.cgroups import CgroupTree

    # Every cgroup made on demand (none by a sandbox started ahead of time, before the patch),
    # and none of another engine's waiting in the run directories checked below.
    close_all()
    engine = _engine(make_settings(data_dir, warm_sandboxes=0), registry)
    assert _run_python(engine) is Status.OK  # the set-up works otherwise

    def refuse(*args: object, **kwargs: object) -> None:
        # What the kernel answers when the cgroup tree is not writable.
        raise PermissionError(errno.EACCES, "Permission denied", "/sys/fs/cgroup/execbox/x")

    monkeypatch.setattr(CgroupTree, "create", refuse)
    lang = registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    assert result.status is Status.INTERNAL_ERROR, result
    assert result.message and "Permission denied: /sys/fs/cgroup/execbox/x" in result.message
    from execbox.sandbox.native.backend import NativeBackend

    assert isinstance(engine.backend, NativeBackend)
    engine.backend.settle()  # the workspace is removed in the background
    assert list(engine.settings.runs_dir.iterdir()) == []  # the workspace was still removed


@pytest.mark.docker
def test_an_unreadable_docker_report_is_internal_error(
    data_dir: Path, registry: LanguageRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from execbox.sandbox.docker import backend as docker_backend

    engine = _engine(make_settings(data_dir, backend="docker"), registry)
    assert _run_python(engine) is Status.OK

    def unreadable(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EIO, "Input/output error", "the attach socket")

    monkeypatch.setattr(docker_backend, "read_streams", unreadable)
    lang = registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    assert result.status is Status.INTERNAL_ERROR, result
    assert result.message and "Input/output error" in result.message


def test_an_rlimit_the_native_init_cannot_set_is_internal_error(
    data_dir: Path, registry: LanguageRegistry
) -> None:
    """The init reports a refused setrlimit on its status line: the sandbox failed, the
    program never ran (it used to surface as the program's exit code 126)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    engine = _engine(make_settings(data_dir, open_files_limit=256), registry)
    assert _run_python(engine) is Status.OK
    # Above this process's hard limit: the unprivileged init may not raise it.
    too_many = min(hard + 1, 65_536)
    if too_many <= hard:
        pytest.skip(f"this process's hard RLIMIT_NOFILE ({hard}) is at the settings' bound")
    engine = _engine(make_settings(data_dir, open_files_limit=too_many), registry)
    lang = registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    assert result.status is Status.INTERNAL_ERROR, result
    assert result.message and "setrlimit(RLIMIT_NOFILE)" in result.message
    assert result.exit_code is None and SENTINEL not in result.stdout


@pytest.mark.docker
def test_a_docker_init_that_cannot_drop_privileges_is_internal_error(
    data_dir: Path, registry: LanguageRegistry, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The container init refuses to run the program as root and says so in its report."""
    from execbox.sandbox.docker import backend as docker_backend

    engine = _engine(make_settings(data_dir, backend="docker"), registry)
    assert _run_python(engine) is Status.OK
    backend = engine.backend
    assert isinstance(backend, docker_backend.DockerBackend)
    # No setting can lend uid 0 (the pool starts at 10000 or above): only a bug could.
    monkeypatch.setattr(backend, "uids", UidPool(0, 1, lock_dir=tmp_path))
    lang = registry.get("python")
    result = engine.run(lang, PROGRAM, limits=resolve_limits(engine.settings, language=lang.limits))
    assert result.status is Status.INTERNAL_ERROR, result
    assert result.message and "refusing-to-run-as-root" in result.message
    assert SENTINEL not in result.stdout


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_seccomp_filter_that_cannot_be_built_leaks_no_descriptor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fd = seccomp.filter_fd()  # the real filter: a descriptor the caller closes
    assert os.read(fd, 8)
    os.close(fd)

    def broken() -> bytes:
        raise SandboxUnavailable("cannot build the seccomp filter (test)")

    monkeypatch.setattr(seccomp, "filter_bpf", broken)
    close_all()  # the earlier tests' sandboxes, torn down in the background, close theirs
    before = _open_fds()
    for _ in range(20):
        with pytest.raises(SandboxUnavailable):
            seccomp.filter_fd()
    assert _open_fds() == before


def test_the_boundary_names_what_failed_and_keeps_the_cause() -> None:
    @sandbox_boundary("mounting the run directory")
    def plain() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/runs/x")

    with pytest.raises(SandboxError) as caught:
        plain()
    assert str(caught.value) == (
        "mounting the run directory failed: No such file or directory: /data/runs/x"
    )
    assert isinstance(caught.value.__cause__, FileNotFoundError)

    @sandbox_boundary("removing the run directory")
    def generator() -> Iterator[int]:
        yield 1
        raise PermissionError(errno.EPERM, "Operation not permitted")

    steps = generator()
    assert next(steps) == 1
    with pytest.raises(SandboxError, match="removing the run directory failed: Operation not"):
        next(steps)
    with pytest.raises(SandboxError, match=r"^reading failed: boom$"), host_failures("reading"):
        raise OSError("boom")
