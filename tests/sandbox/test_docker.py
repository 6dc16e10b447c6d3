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
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry, load_registry
from execbox.limits import resolve_limits
from execbox.results import RunResult, Status
from execbox.sandbox.docker.backend import DockerBackend
from execbox.sandbox.docker.images.catalog import LABEL, image_for
from execbox.sandbox.docker.orphans import OWNER_LABEL
from execbox.settings import Settings
from tests.conftest import UID_BASE, UID_COUNT, make_runner

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
    return Settings(
        data_dir=tmp_path_factory.mktemp("docker"),
        backend="docker",
        sandbox_uid_base=UID_BASE,
        sandbox_uid_count=UID_COUNT,
    )


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
    ids, caps = result.stdout.splitlines()
    uid, gid, groups = ids.split(" ", 2)
    assert UID_BASE <= int(uid) < UID_BASE + UID_COUNT  # lent to this run alone
    assert (gid, groups) == (uid, "[]")
    assert caps == "0000000000000000 0000000000000000 1"


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
        "files = {'main.py': b'x'}\n"
        "print(create_run_dir(Path(sys.argv[1]), 'stale', 1 << 20, files, 65534).path)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", make, str(runs)], capture_output=True, text=True, check=True
    )
    stale = Path(done.stdout.strip())  # its owner, a killed service say, is gone
    assert stale.is_dir()
    DockerBackend(docker_settings)
    assert not stale.exists()
    assert str(stale) not in Path("/proc/self/mounts").read_text()


def _status_of_pid_1(client: docker.DockerClient, backend: DockerBackend) -> dict[str, str]:
    """/proc/<pid>/status, read on the host, of the init of this backend's running container,
    once it has started the program."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for entry in client.api.containers(filters={"label": f"{OWNER_LABEL}={backend.owner}"}):
            pid = client.api.inspect_container(entry["Id"])["State"]["Pid"]
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
                text = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if pid and children:
                return dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
        time.sleep(0.05)
    raise AssertionError("no running container of this backend was seen")


def test_the_init_is_not_host_root(
    run: DockerRun, client: docker.DockerClient, backend: DockerBackend
) -> None:
    results: list[RunResult] = []
    code = "import time\nprint('started', flush=True)\ntime.sleep(3)\nprint('done')\n"
    thread = threading.Thread(target=lambda: results.append(run("python", code)))
    thread.start()
    try:
        status = _status_of_pid_1(client, backend)
    finally:
        thread.join()
    assert (results[0].status, results[0].stdout) == (Status.OK, "started\ndone\n")
    real, effective, saved, fs = (int(uid) for uid in status["Uid"].split())
    assert UID_BASE <= real < UID_BASE + UID_COUNT, status["Uid"]
    assert real == effective == saved == fs
    assert status["CapEff"] == status["CapPrm"] == "0000000000000000"
    assert status["Gid"].split()[2] != str(real)  # its saved gid is not the program's: no prlimit


def test_the_program_cannot_forge_or_stop_the_report(run: DockerRun) -> None:
    forged = b"\x03\x00\x00\x00\x13exit 0 1 1 1 0 0 0\n"
    code = (
        "import os, resource, signal, sys\n"
        f"sys.stdout.buffer.write({forged!r}); sys.stdout.flush()\n"
        f"sys.stderr.buffer.write({forged!r}); sys.stderr.flush()\n"
        "try:\n    os.listdir('/proc/1/fd')\n    print('fds open')\n"
        "except OSError as e:\n    print('fds', e.strerror)\n"
        "try:\n    resource.prlimit(1, resource.RLIMIT_CPU, (0, 0))\n    print('limited')\n"
        "except OSError as e:\n    print('prlimit', e.strerror)\n"
        "for sig in (signal.SIGTERM, signal.SIGKILL, signal.SIGSTOP):\n    os.kill(1, sig)\n"
        "print('signalled')\nsys.exit(3)\n"
    )
    result = run("python", code)
    assert (result.status, result.exit_code) == (Status.RUNTIME_ERROR, 3), result
    assert result.stdout == (
        forged.decode() + "fds Permission denied\nprlimit Operation not permitted\nsignalled\n"
    )
    assert result.stderr == forged.decode()


def test_socket_buffers_count_against_the_memory_limit(run: DockerRun) -> None:
    # Loopback TCP connections nobody reads: the kernel queues what is sent in socket
    # buffers, which cgroup v1 charges to nothing unless the container's cgroup asks.
    code = (
        "import socket\n"
        "listener = socket.socket()\nlistener.bind(('127.0.0.1', 0))\nlistener.listen(256)\n"
        "queued, held = 0, []\n"
        "for _ in range(110):\n"
        "    a = socket.create_connection(listener.getsockname())\n"
        "    held.append((a, listener.accept()[0]))\n"
        "    a.setblocking(False)\n"
        "    try:\n"
        "        while True:\n            queued += a.send(b'x' * 65536)\n"
        "    except BlockingIOError:\n        pass\n"
        "    if queued > 300 << 20:\n        break\n"
        "print('connections', len(held))\nprint('queued', queued)\n"
    )
    result = run("python", code, memory_limit=128)
    assert result.status is Status.OK, result
    lines = result.stdout.splitlines()
    queued = int(lines[1].split()[1])
    assert lines[0].startswith("connections ") and queued > 16 << 20  # it did queue data
    # The kernel lets each socket overshoot its cgroup's limit by a little (forced charges).
    bound = (128 + 32) << 20
    assert queued <= bound, f"{queued >> 20} MiB of socket buffers under a 128 MB limit"
    assert result.memory_used >= 100 << 20  # and the run is billed for them
