"""The Docker backend end to end: a real dockerd, the images ``execbox images build`` makes.

Outside CI these tests skip when dockerd or the images are missing; in CI
(``CI=true``) that is a failure, since ``scripts/test-services`` provides both.
After every test no container of this process and no run directory is left.
"""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_prints_ok(run: DockerRun, registry: LanguageRegistry, language: str) -> None:
    result = run(language, registry.get(language).test_program)
    assert result.status is Status.OK, result
    assert result.stdout == "OK\n"
    assert (result.exit_code, result.signal) == (0, None)
    assert result.duration_ms > 0 and result.memory_used > 0


def test_runtime_error_keeps_stdout_and_stderr(run: DockerRun) -> None:
    result = run("python", "print('before')\nraise ValueError('boom')\n")
    assert result.status is Status.RUNTIME_ERROR
    assert (result.exit_code, result.stdout) == (1, "before\n")
    assert "ValueError: boom" in result.stderr


def test_compile_error_shows_the_compiler(run: DockerRun) -> None:
    result = run("c", "int main(void) { return undefined_name; }\n")
    assert result.status is Status.COMPILE_ERROR
    assert result.compile_output and "undefined_name" in result.compile_output


def test_stdin_and_args_reach_the_program(run: DockerRun) -> None:
    code = "import sys\nprint(sys.argv[1:])\nprint(sum(int(x) for x in sys.stdin.read().split()))\n"
    result = run("python", code, stdin="1 2 3\n4\n", args=("a b", "--flag", "ü"))
    assert result.status is Status.OK, result
    assert result.stdout == "['a b', '--flag', 'ü']\n10\n"


def test_large_stdin_echoed_back_does_not_deadlock(run: DockerRun) -> None:
    data = "x" * 200_000 + "\n"
    result = run("python", "import sys\nsys.stdout.write(sys.stdin.read())\n", stdin=data)
    assert result.status is Status.OK
    assert result.stdout == data


def test_exit_137_is_an_exit_code_and_sigkill_a_signal(run: DockerRun) -> None:
    exited = run("c", "#include <stdlib.h>\nint main(void) { exit(137); }\n")
    assert (exited.status, exited.exit_code, exited.signal) == (Status.RUNTIME_ERROR, 137, None)
    killed = run("python", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert (killed.status, killed.exit_code, killed.signal) == (
        Status.RUNTIME_ERROR,
        None,
        "SIGKILL",
    )


def test_memory_bomb_hits_the_memory_limit(run: DockerRun) -> None:
    result = run("python", "x = []\nwhile True:\n    x.append(bytearray(1 << 20))\n")
    assert result.status is Status.MEMORY_LIMIT, result
    assert 0 < result.memory_used <= 128 << 20


def test_busy_loop_times_out_at_half_a_cpu(run: DockerRun) -> None:
    result = run("c", "int main(void) { for (;;); }\n", time_limit=2)
    assert result.status is Status.TIMEOUT, result
    assert 1900 <= result.duration_ms <= 3000
    assert 0.3 * result.duration_ms <= result.cpu_time_ms <= 0.7 * result.duration_ms


def test_sleep_times_out_by_the_wall_clock(run: DockerRun) -> None:
    result = run("python", "import time\ntime.sleep(60)\n", time_limit=1.5)
    assert result.status is Status.TIMEOUT
    assert result.cpu_time_ms < 500


def test_output_flood_is_cut_at_the_cap(run: DockerRun, docker_settings: Settings) -> None:
    started = time.monotonic()
    result = run("python", "import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n")
    assert result.status is Status.OUTPUT_LIMIT and result.truncated
    assert len(result.stdout) == docker_settings.output_limit_bytes
    assert set(result.stdout) == {"y"}
    assert time.monotonic() - started < 5


def test_daemon_does_not_outlive_the_run(run: DockerRun) -> None:
    code = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    time.sleep(60)\n"
        "print('parent')\n"
    )
    started = time.monotonic()
    result = run("python", code)
    assert result.status is Status.OK and result.stdout == "parent\n"
    assert time.monotonic() - started < 5


def test_no_network_but_loopback(run: DockerRun) -> None:
    code = (
        "import os, socket\n"
        "print(sorted(os.listdir('/sys/class/net')))\n"
        "s = socket.socket()\ns.settimeout(2)\n"
        "try:\n    s.connect(('1.1.1.1', 80))\n    print('connected')\n"
        "except OSError as e:\n    print('refused', e.errno)\n"
    )
    result = run("python", code)
    assert result.status is Status.OK
    assert result.stdout.startswith("['lo']\nrefused")


def test_root_is_read_only_and_tmp_is_writable(run: DockerRun) -> None:
    code = (
        "for path in ('/usr/x', '/etc/x', '/x'):\n"
        "    try:\n        open(path, 'w')\n        print('wrote', path)\n"
        "    except OSError as e:\n        print(e.strerror)\n"
        "open('/tmp/f', 'w').write('ok')\nopen('out.txt', 'w').write('ok')\nprint('tmp ok')\n"
    )
    result = run("python", code)
    assert result.status is Status.OK
    assert result.stdout == "Read-only file system\n" * 3 + "tmp ok\n"


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


def test_tmp_is_fresh_for_every_run(run: DockerRun) -> None:
    assert run("bash", "echo secret > /tmp/left; echo done").stdout == "done\n"
    result = run("bash", "ls -A /tmp /dev/shm; ls")
    assert result.status is Status.OK
    assert "left" not in result.stdout


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
