"""What only the Docker backend has: a real dockerd, the images ``execbox images build`` makes.

What every backend must do (statuses, limits, isolation, the attacks) is tested on
both backends through the ``backend_name`` fixture: test_engine.py, test_isolation.py
and tests/security.  Here: the image set, Docker's own uid, the clean-up of containers
and run directories a dead process left, doctor's checks, a missing image.

Outside CI these tests skip when dockerd or the images are missing; in CI
(``CI=true``) that is a failure, since ``scripts/test-services`` provides both.
After every test no container of this process and no run directory is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry, load_registry
from execbox.limits import resolve_limits
from execbox.results import RunResult, Status
from execbox.sandbox.docker.backend import OWNER_LABEL, DockerBackend
from execbox.sandbox.docker.images.catalog import LABEL, image_for
from execbox.settings import Settings
from tests.conftest import make_runner

pytestmark = pytest.mark.docker

LANGUAGES = ["python", "javascript", "c", "cpp", "java", "bash"]
DockerRun = Callable[..., RunResult]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"docker tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def client() -> docker.DockerClient:
    try:
        found = docker.from_env()
        found.ping()
    except docker.errors.DockerException as exc:
        _unavailable(f"dockerd is not reachable: {exc}")
    return found


@pytest.fixture(scope="module")
def docker_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("docker"), backend="docker")


@pytest.fixture(scope="module")
def registry() -> LanguageRegistry:
    return load_registry()


@pytest.fixture(scope="module")
def backend(
    client: docker.DockerClient, docker_settings: Settings, registry: LanguageRegistry
) -> DockerBackend:
    for language in LANGUAGES:
        image = image_for(docker_settings, language)
        assert image
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            _unavailable(f"image {image} is missing: run `execbox images build`")
    return DockerBackend(docker_settings, registry)


def _own_containers(client: docker.DockerClient, backend: DockerBackend) -> list[str]:
    found = client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={backend.owner}"})
    return [entry["Id"][:12] for entry in found]


@pytest.fixture
def run(
    backend: DockerBackend,
    client: docker.DockerClient,
    docker_settings: Settings,
    registry: LanguageRegistry,
) -> Iterator[DockerRun]:
    _run = make_runner(Engine(docker_settings, registry, backend))
    yield _run
    assert _own_containers(client, backend) == []
    runs = docker_settings.runs_dir
    assert not runs.exists() or list(runs.iterdir()) == []


def test_program_is_unprivileged(run: DockerRun) -> None:
    code = (
        "import os\nprint(os.getuid(), os.getgid(), os.getgroups())\n"
        "status = dict(l.split(':\\t') for l in open('/proc/self/status').read().splitlines()"
        " if ':\\t' in l)\n"
        "print(status['CapEff'], status['CapPrm'], status['NoNewPrivs'])\n"
    )
    result = run("python", code)
    assert result.status is Status.OK
    assert result.stdout == "65534 65534 []\n0000000000000000 0000000000000000 1\n"


def test_orphans_of_a_dead_process_are_removed(
    client: docker.DockerClient, backend: DockerBackend, docker_settings: Settings
) -> None:
    image = image_for(docker_settings, "bash")
    assert image
    host = backend.owner.split("/")[0]
    orphan = client.api.create_container(
        image, command=["sleep", "60"], labels={LABEL: "step", OWNER_LABEL: f"{host}/999999999.1"}
    )
    client.api.start(orphan)
    DockerBackend(docker_settings)
    with pytest.raises(docker.errors.NotFound):
        client.api.inspect_container(orphan["Id"])


def test_doctor_checks_pass(backend: DockerBackend) -> None:
    checks = list(backend.checks())
    assert checks and all(check.ok for check in checks), [c for c in checks if not c.ok]


def test_missing_image_is_a_sandbox_failure(
    client: docker.DockerClient, tmp_path: Path, registry: LanguageRegistry
) -> None:
    settings = Settings(
        data_dir=tmp_path, backend="docker", docker_images={"python": "execbox/nonexistent:0"}
    )
    engine = Engine(settings, registry, DockerBackend(settings, registry))
    result = engine.run(registry.get("python"), "print(1)\n", limits=resolve_limits(settings))
    assert result.status is Status.INTERNAL_ERROR
    assert result.message and "execbox images build" in result.message


def test_run_dirs_of_a_dead_process_are_removed(docker_settings: Settings) -> None:
    runs = docker_settings.runs_dir
    make = (
        "import sys; from pathlib import Path\n"
        "from execbox.sandbox.docker.workspace import create_run_dir\n"
        "print(create_run_dir(Path(sys.argv[1]), 'stale', 1 << 20, {'main.py': b'x'}).path)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", make, str(runs)], capture_output=True, text=True, check=True
    )
    stale = Path(done.stdout.strip())  # its owner, a killed service say, is gone
    assert stale.is_dir()
    DockerBackend(docker_settings)
    assert not stale.exists()
    assert str(stale) not in Path("/proc/self/mounts").read_text()
