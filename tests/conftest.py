"""Shared fixtures: settings with a private data dir, and engines per backend.

Every engine test runs on the real sandbox.  After each one the ``leftovers``
check asserts the sandbox's invariants: no process of this session's sandbox
uids alive, no cgroup and no run directory of this process left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry, load_registry
from execbox.limits import LimitOverrides, resolve_limits
from execbox.results import RunResult
from execbox.sandbox.base import SandboxBackend
from execbox.sandbox.factory import create_backend
from execbox.sandbox.leftovers import owner_tag
from execbox.sandbox.native.backend import close_all
from execbox.sandbox.native.cgroups import CgroupTree
from execbox.settings import Settings
from tests import scratch
from tests.host_processes import processes_of_uids
from tests.null_backend import ENV_VAR as NULL_BACKEND_VAR
from tests.null_backend import NullBackend

# A uid range of this test session's own, so checks for leftover processes see only ours.
UID_BASE = 2_000_000 + (os.getpid() % 5000) * 64
UID_COUNT = 64
SANDBOX_UIDS = range(UID_BASE, UID_BASE + UID_COUNT)
BACKENDS = ["native", pytest.param("docker", marks=pytest.mark.docker)]
# The security suite runs on the native backend under both of its builders (execbox-sandbox,
# the default, and bubblewrap, the fallback): a module's ``pytestmark = EVERY_BUILDER``.
EVERY_BUILDER = pytest.mark.parametrize(
    "sandbox_name",
    ["native", "native-bubblewrap", pytest.param("docker", marks=pytest.mark.docker)],
    indirect=True,
)


def pytest_sessionstart(session: pytest.Session) -> None:
    # What sessions killed before their fixtures could clean up left under /var/tmp.
    scratch.remove_dead_sessions_dirs()


@pytest.fixture(scope="session")
def data_dir() -> Iterator[Path]:
    with scratch.data_dir("test") as path:
        yield path
        close_all()  # the session's warm sandboxes (mounted in it) go before the data dir


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir,
        "sandbox_uid_base": UID_BASE,
        "sandbox_uid_count": UID_COUNT,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def registry() -> LanguageRegistry:
    return load_registry()


@pytest.fixture(scope="session", params=BACKENDS)
def sandbox_name(request: pytest.FixtureRequest) -> str:
    """The backend, and after a dash the native backend's builder when not the default."""
    return str(request.param)


@pytest.fixture(scope="session")
def backend_name(sandbox_name: str) -> str:
    return sandbox_name.partition("-")[0]


@pytest.fixture(scope="session")
def settings(data_dir: Path, sandbox_name: str) -> Settings:
    backend, _, builder = sandbox_name.partition("-")
    return make_settings(data_dir, backend=backend, sandbox_builder=builder or "execbox")


def sandbox_backend(settings: Settings) -> SandboxBackend:
    """The backend ``settings`` name, or the null backend when the meta-test asks for it
    (``tests/null_backend.py``): every test that builds an engine builds it through here."""
    null_mode = os.environ.get(NULL_BACKEND_VAR)
    if null_mode:
        return NullBackend(null_mode)
    return create_backend(settings)


@pytest.fixture(scope="session")
def engine(settings: Settings, registry: LanguageRegistry) -> Engine:
    backend = sandbox_backend(settings)
    if settings.backend == "docker" and not isinstance(backend, NullBackend):
        failed = [f"{c.name}: {c.detail} ({c.fix})" for c in backend.checks() if not c.ok]
        if failed and os.environ.get("CI") == "true":
            pytest.fail(f"docker backend unusable in CI: {failed}")
        if failed:
            pytest.skip(f"docker backend unusable here: {failed}")
    return Engine(settings, registry, backend)


Runner = Callable[..., RunResult]


def make_runner(engine: Engine) -> Runner:
    """``run(language, code, stdin="", args=(), time_limit=None, memory_limit=None)``: one
    program through ``engine``, with limits resolved as a request asking for them would."""

    def _run(
        language: str,
        code: str | bytes,
        stdin: str | bytes = "",
        args: tuple[str, ...] | list[str] = (),
        time_limit: float | None = None,
        memory_limit: int | None = None,
        file_size_kb: int | None = None,
    ) -> RunResult:
        lang = engine.registry.get(language)
        limits = resolve_limits(
            engine.settings,
            language=lang.limits,
            request=LimitOverrides(
                time_limit_s=time_limit, memory_limit_mb=memory_limit, file_size_kb=file_size_kb
            ),
        )
        return engine.run(lang, code, limits=limits, stdin=stdin, args=args)

    return _run


def single_uid_engine(
    data_dir: Path, registry: LanguageRegistry, like: Settings | None = None
) -> tuple[Engine, int]:
    """An engine whose uid pool is one uid (the session's last), and that uid: every run
    gets it (on either backend), so a test knows the host uid its program runs as.  Its
    backend (and builder) are ``like``'s, the native backend's defaults without it."""
    uid = UID_BASE + UID_COUNT - 1
    settings = make_settings(data_dir, sandbox_uid_base=uid, sandbox_uid_count=1)
    if like is not None:
        settings = settings.model_copy(
            update={"backend": like.backend, "sandbox_builder": like.sandbox_builder}
        )
    return Engine(settings, registry, sandbox_backend(settings)), uid


@pytest.fixture
def run(engine: Engine, leftovers: None) -> Runner:
    return make_runner(engine)


def own_cgroups(name: str = "execbox") -> list[str]:
    """This process's step cgroups, wherever this host puts them (v1 mounts, the v2 root or
    the cgroup delegated to this process)."""
    prefix = f"{owner_tag()}_"  # cgroups are named after their owner: pid and start time
    roots = {*CgroupTree.detect(name).roots.values(), *Path("/sys/fs/cgroup").glob("*/" + name)}
    roots.add(Path("/sys/fs/cgroup") / name)
    found = []
    for root in roots:
        if root.is_dir():
            found += [str(p) for p in root.iterdir() if p.name.startswith(prefix)]
    return found


@pytest.fixture
def leftovers(settings: Settings) -> Iterator[None]:
    """After the test: no sandbox process alive 1 s later, no cgroup, no run directory, no
    mount left under the data dir."""
    yield
    close_all()  # the warm sandboxes started ahead of time (the next step starts them again)
    deadline = time.monotonic() + 1.0
    while processes_of_uids(SANDBOX_UIDS) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_of_uids(SANDBOX_UIDS) == []
    assert own_cgroups(settings.cgroup_name) == []
    runs = settings.runs_dir
    assert not runs.exists() or list(runs.iterdir()) == []
    with open("/proc/self/mountinfo") as handle:
        assert [line for line in handle if str(settings.data_dir) in line.split()[4]] == []
    if settings.backend == "docker" and not os.environ.get(NULL_BACKEND_VAR):
        import docker

        from execbox.sandbox.docker.orphans import own_containers_filter

        client = docker.from_env()
        try:
            assert client.api.containers(all=True, filters=own_containers_filter()) == []
        finally:
            client.close()
