"""What a program in the sandbox can see and touch: nothing of the host's."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from execbox import timing
from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.limits import LimitOverrides, resolve_limits
from execbox.results import Status
from execbox.settings import Settings
from tests.conftest import (
    UID_BASE,
    UID_COUNT,
    Runner,
    make_settings,
    sandbox_backend,
    single_uid_engine,
)


@pytest.fixture
def native_only(backend_name: str) -> None:
    """For properties of the native sandbox's own construction (the Docker tests have theirs)."""
    if backend_name != "native":
        pytest.skip("a property of the native backend's construction")


def _host_secret_lines() -> list[str]:
    try:
        return [line for line in Path("/etc/shadow").read_text().splitlines() if ":$" in line]
    except OSError:
        return []


def test_etc_shadow_gives_no_host_content(run: Runner) -> None:
    result = run("bash", "cat /etc/shadow; echo rc=$?\n")
    assert result.status is Status.OK
    assert result.stdout.endswith("rc=1\n"), result  # cat ran and failed
    for line in _host_secret_lines():
        assert line not in result.stdout


def test_etc_is_generated(run: Runner, native_only: None) -> None:
    code = "import os\nprint(sorted(os.listdir('/etc')))\n"
    result = run("python", code)
    assert result.status is Status.OK
    assert "shadow" not in result.stdout and "ssh" not in result.stdout
    assert "passwd" in result.stdout


@pytest.mark.parametrize("target", ["/usr/evil", "/evil", "/etc/evil", "/bin/evil", "/proc/evil"])
def test_writes_outside_the_writable_dirs_are_refused(run: Runner, target: str) -> None:
    result = run("bash", f"echo x > {target}\n")
    assert result.status is Status.RUNTIME_ERROR
    assert "Read-only file system" in result.stderr or "No such file" in result.stderr
    assert not Path(target).exists()


def test_writable_dirs_are_capped_tmpfs(run: Runner) -> None:
    result = run("bash", "dd if=/dev/zero of=/tmp/f bs=1M count=1000 2>&1; echo rc=$?\n")
    assert result.status is Status.OK
    assert "No space left on device" in result.stdout
    after = run("bash", "ls -A /tmp /dev/shm\n")
    assert after.stdout.split() == ["/dev/shm:", "/tmp:"]


def test_no_files_are_shared_between_runs(run: Runner) -> None:
    plant = "for d in /tmp /dev/shm /box; do echo secret > $d/left-behind; done\n"
    planted = run("bash", plant + "ls -A /tmp /dev/shm /box\n")
    assert planted.status is Status.OK
    listing = ["/box:", "left-behind", "main.sh", "/dev/shm:", "left-behind", "/tmp:"]
    assert planted.stdout.split() == [*listing, "left-behind"], planted
    look = run("bash", "ls -A /tmp /dev/shm /box\n")
    assert look.status is Status.OK
    assert look.stdout.split() == ["/box:", "main.sh", "/dev/shm:", "/tmp:"], look


@pytest.fixture
def listener() -> Iterator[tuple[int, list[bytes]]]:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    seen: list[bytes] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            seen.append(conn.recv(100) or b"<connected>")
            conn.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join()
    server.close()


def test_host_loopback_listener_receives_nothing(
    run: Runner, listener: tuple[int, list[bytes]]
) -> None:
    port, seen = listener
    code = (
        "import socket\n"
        "for host in ('127.0.0.1', 'localhost', '10.0.2.2'):\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=1).sendall(b'hi')\n"
        "        print('connected', host)\n"
        "    except OSError as e:\n"
        "        print('refused', host, type(e).__name__)\n"
    )
    result = run("python", code)
    assert result.status is Status.OK
    tried = [line.split()[:2] for line in result.stdout.splitlines()]
    assert tried == [["refused", host] for host in ("127.0.0.1", "localhost", "10.0.2.2")]
    assert seen == []


def test_only_loopback_interface_exists(run: Runner) -> None:
    result = run("bash", "cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '\n")
    assert result.stdout.split() == ["lo"]


def test_double_forked_daemon_is_killed_and_the_run_ends_promptly(run: Runner) -> None:
    code = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        "        os.close(1); os.close(2)\n"
        "        time.sleep(300)\n"
        "    os._exit(0)\n"
        "os.wait()\n"
        "print('parent done')\n"
    )
    result = run("python", code)
    assert (result.status, result.stdout) == (Status.OK, "parent done\n")
    assert result.duration_ms < 5000
    # the leftovers fixture asserts the daemon is gone within 1 s


def test_daemon_holding_stdout_does_not_hang_the_host(run: Runner) -> None:
    code = "(sleep 300 &) ; echo started\n"
    result = run("bash", code)
    assert (result.status, result.stdout) == (Status.OK, "started\n")
    assert result.duration_ms < 5000


def test_output_a_lingering_child_wrote_before_the_program_ended_is_kept(run: Runner) -> None:
    # More than a pipe holds: the host reads while the child writes; the child then lingers
    # with stdout open, and the answer neither waits for it nor loses what it wrote.
    code = (
        "import os, time\n"
        "r, w = os.pipe()\n"
        "if os.fork() == 0:\n"
        "    os.write(1, b'from the child\\n' * 5000)\n"
        "    os.write(w, b'x')\n"
        "    time.sleep(300)\n"
        "os.read(r, 1)\n"
        "print('parent done', flush=True)\n"
    )
    result = run("python", code)
    assert result.status is Status.OK, result
    assert result.stdout == "from the child\n" * 5000 + "parent done\n"
    assert result.duration_ms < 5000
    # the leftovers fixture asserts the child is gone


def test_host_environment_is_invisible(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXECBOX_TEST_SECRET", "hunter2-host-secret")
    code = (
        "env; echo ---; tr '\\0' '\\n' < /proc/1/environ; echo ---\n"
        "cat /proc/self/environ | tr '\\0' '\\n'; echo end\n"
    )
    result = run("bash", code)
    assert result.status is Status.OK
    assert "hunter2" not in result.stdout
    shell, _, procfs = result.stdout.split("---\n")
    assert procfs.endswith("\nend\n"), result
    allowed = {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD", "HOSTNAME"}
    for listing in (shell, procfs.removesuffix("end\n")):
        names = {line.split("=", 1)[0] for line in listing.split()}
        assert "PATH" in names and names <= allowed, listing  # read, and nothing of the host's


def test_processes_hostname_and_fds_are_the_runs_own(run: Runner, native_only: None) -> None:
    code = (
        "hostname\necho ---\n"
        "for p in /proc/[0-9]*; do echo $(cat $p/comm); done\n"
        "echo ---\nls /proc/self/fd\n"
    )
    result = run("bash", code)
    hostname, processes, fds = result.stdout.split("---")
    assert hostname.strip() == "sandbox"
    assert "bash" in processes.split()  # the listing ran
    assert set(processes.split()) <= {".execbox-init", "bash", "cat"}
    assert fds.split() == ["0", "1", "2", "3"]  # 3 is ls's own directory handle


def test_program_is_never_host_root(run: Runner, native_only: None) -> None:
    code = "id -u\ncat /proc/self/uid_map\ngrep -E 'CapEff|NoNewPrivs' /proc/self/status\n"
    result = run("bash", code)
    assert result.status is Status.OK
    lines = result.stdout.splitlines()
    assert lines[0] == "1000"
    inside, outside, count = lines[1].split()
    assert (inside, count) == ("1000", "1")
    assert int(outside) != 0 and int(outside) >= 10_000
    assert "CapEff:\t0000000000000000" in result.stdout
    assert "NoNewPrivs:\t1" in result.stdout


def test_setuid_and_su_do_not_give_root(run: Runner, backend_name: str) -> None:
    result = run("bash", "su -c id root </dev/null; sudo id; ping -c1 127.0.0.1; id -u\n")
    uid = int(result.stdout.strip().splitlines()[-1])
    if backend_name == "native":
        assert uid == 1000
    else:  # the run's lent host uid
        assert UID_BASE <= uid < UID_BASE + UID_COUNT
    assert "uid=0" not in result.stdout


@pytest.fixture
def canary(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("canary")
    target = directory / "canary.txt"
    target.write_text("untouched\n")
    os.chmod(target, 0o600)
    before = target.stat()
    yield target
    after = target.stat()
    assert target.read_text() == "untouched\n"
    assert (after.st_uid, after.st_gid, after.st_mode) == (
        before.st_uid,
        before.st_gid,
        before.st_mode,
    )


@pytest.mark.parametrize("language", ["python", "c"])
def test_planted_symlinks_and_fifos_are_never_followed(
    run: Runner, canary: Path, language: str
) -> None:
    names = ["main.py", "main.c", "main", "Main.java", "Main.class", "a.out", "stdout", "tmp"]
    plant = "; ".join(f"rm -rf /box/{n}; ln -s {canary} /box/{n}" for n in names)
    fifos = "; ".join(f"mkfifo /box/fifo{i}" for i in range(3))
    shell = f"{plant}; {fifos}; stat -c %F:%n /box/*"  # lists what was planted
    script = f"import os\nos.system({shell!r})\nprint('planted')\n"
    if language == "c":
        script = (
            "#include <stdlib.h>\n#include <stdio.h>\n"
            f'int main(void) {{ system({shell!r}); puts("planted"); return 0; }}\n'
        ).replace("'", '"', 2)
    result = run(language, script)
    assert result.status is Status.OK, result
    *listing, end = result.stdout.splitlines()
    planted = {line for line in listing if line.startswith(("symbolic link:", "fifo:"))}
    assert planted == {f"symbolic link:/box/{n}" for n in names} | {
        f"fifo:/box/fifo{i}" for i in range(3)
    }, result.stdout
    assert end == "planted"
    # the canary fixture asserts the host file kept content, owner and mode;
    # the leftovers fixture asserts the run directory is gone


LISTEN = (
    "import socket, time\n"
    "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('127.0.0.1', 47123)); s.listen()\n"
    "u = socket.socket(socket.AF_UNIX); u.bind('\\0execbox-abstract'); u.listen()\n"
    "print('listening', flush=True)\n"
    "time.sleep({seconds})\n"
)
PROBE = (
    "import socket\n"
    "for family, address in ((socket.AF_INET, ('127.0.0.1', 47123)),"
    " (socket.AF_UNIX, '\\0execbox-abstract')):\n"
    "    try:\n"
    "        socket.socket(family).connect(address); print('reached')\n"
    "    except OSError:\n"
    "        print('refused')\n"
)


def test_a_running_program_is_unreachable_from_another_run(run: Runner) -> None:
    results: list[object] = []
    listener = threading.Thread(
        target=lambda: results.append(run("python", LISTEN.format(seconds=3), time_limit=5))
    )
    listener.start()
    time.sleep(1.0)
    probe = run("python", PROBE)
    listener.join()
    assert probe.stdout.split() == ["refused", "refused"]
    assert getattr(results[0], "stdout", "") == "listening\n"


def test_the_next_run_on_the_same_uid_finds_no_network_state(
    data_dir: Path, registry: LanguageRegistry, backend_name: str, leftovers: None
) -> None:
    if backend_name != "native":
        pytest.skip("the uid pool is the native backend's")
    # One uid in the pool: both runs get the same uid.
    engine, _ = single_uid_engine(data_dir, registry)
    python = registry.get("python")
    limits = resolve_limits(engine.settings)
    first = engine.run(
        python,
        LISTEN.format(seconds=0) + "import os\nif os.fork() == 0:\n    time.sleep(60)\n",
        limits=limits,
    )
    assert first.stdout == "listening\n"
    second = engine.run(python, PROBE, limits=limits)
    assert second.stdout.split() == ["refused", "refused"]
    rebind = engine.run(python, LISTEN.format(seconds=0), limits=limits)
    assert rebind.stdout == "listening\n"


PLANT_EVERYWHERE = (
    "import os, socket\n"
    "for d in ('/tmp', '/dev/shm', '/box'):\n"
    "    open(d + '/left-behind', 'w').write('secret')\n"
    + LISTEN.split("print(")[0]
    + "if os.fork() == 0:\n    os.setsid(); time.sleep(60)\n"
    "print('planted', flush=True)\n"
)
LOOK_AROUND = (
    "import os\n"
    "print(*(sorted(os.listdir(d)) for d in ('/tmp', '/dev/shm', '/box')))\n"
    + PROBE
    + "print('looked')\n"
)


def test_a_sandbox_started_ahead_of_time_is_fresh(
    data_dir: Path, registry: LanguageRegistry, backend_name: str, leftovers: None
) -> None:
    """The second run of a kind takes a sandbox the pool started while the first ran (it
    makes no cgroup of its own); nothing of the first run is in it: no files in /tmp,
    /dev/shm or /box, no listener on its loopback, no abstract socket."""
    if backend_name != "native":
        pytest.skip("a property of the native backend's construction (warm sandboxes)")
    settings = make_settings(data_dir, warm_sandboxes=1)
    engine = Engine(settings, registry, sandbox_backend(settings))
    python = registry.get("python")
    limits = resolve_limits(settings, language=python.limits)
    first = engine.run(python, PLANT_EVERYWHERE, limits=limits)
    assert (first.status, first.stdout) == (Status.OK, "planted\n"), first
    deadline = time.monotonic() + 30
    while not any("_warm-" in p.name for p in settings.runs_dir.iterdir()):
        assert time.monotonic() < deadline, "no sandbox was started ahead of time"
        time.sleep(0.05)
    time.sleep(0.5)  # its bubblewrap done with its mounts
    with timing.collect() as phases:
        second = engine.run(python, LOOK_AROUND, limits=limits)
    assert "cgroup create" not in phases and "program and collection" in phases, phases
    assert second.status is Status.OK, second
    assert second.stdout.splitlines() == ["[] [] ['main.py']", "refused", "refused", "looked"]


def _warm_dirs(settings: Settings) -> list[str]:
    return [p.name for p in settings.runs_dir.iterdir() if "_warm-" in p.name]


def _wait_for_warm(settings: Settings, count: int) -> None:
    deadline = time.monotonic() + 60
    while len(_warm_dirs(settings)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} sandboxes started ahead of time"
        time.sleep(0.05)
    time.sleep(0.5)  # their bubblewrap done with its mounts


HOG = (
    "import sys\n"
    "print('started', flush=True)\n"
    "block = bytearray(100 * 1024 * 1024)\n"
    "for i in range(0, len(block), 4096):\n"
    "    block[i] = 1\n"
    "print('allocated', flush=True)\n"
)


def test_a_sandbox_started_ahead_of_time_goes_only_to_a_run_of_its_limits(
    data_dir: Path, registry: LanguageRegistry, native_only: None, leftovers: None
) -> None:
    """The pool keeps sandboxes of a 256 MB run's kind; a 48 MB run does not get one (its
    cgroup is made for it, and 100 MB is too much for it), and the next 256 MB run does
    (no cgroup made, and 100 MB fit)."""
    settings = make_settings(data_dir, warm_sandboxes=2)
    engine = Engine(settings, registry, sandbox_backend(settings))
    python = registry.get("python")
    big = resolve_limits(
        settings, language=python.limits, request=LimitOverrides(memory_limit_mb=256)
    )
    small = resolve_limits(
        settings, language=python.limits, request=LimitOverrides(memory_limit_mb=48)
    )
    first = engine.run(python, HOG, limits=big)
    assert (first.status, first.stdout) == (Status.OK, "started\nallocated\n"), first
    _wait_for_warm(settings, 2)
    with timing.collect() as phases:
        squeezed = engine.run(python, HOG, limits=small)
    assert "cgroup create" in phases, phases  # made for it: none of the pool's
    assert squeezed.status is Status.MEMORY_LIMIT, squeezed
    assert squeezed.stdout == "started\n", squeezed  # it ran, up to the allocation
    _wait_for_warm(settings, 2)
    with timing.collect() as phases:
        again = engine.run(python, HOG, limits=big)
    assert "cgroup create" not in phases and "program and collection" in phases, phases
    assert (again.status, again.stdout) == (Status.OK, "started\nallocated\n"), again


CHECK_AND_PLANT = (
    "import os\n"
    "print(*(sorted(os.listdir(d)) for d in ('/tmp', '/dev/shm', '/box')), flush=True)\n"
    "for d in ('/tmp', '/dev/shm', '/box'):\n"
    "    open(d + '/left-behind', 'w').write('secret')\n"
    "print('planted')\n"
)


def test_no_sandbox_started_ahead_of_time_is_given_to_two_runs(
    data_dir: Path, registry: LanguageRegistry, native_only: None, leftovers: None
) -> None:
    """24 runs, 4 at a time, with 2 sandboxes of their kind kept warm: each finds its /tmp,
    /dev/shm and /box as new (only its own program) and plants files there; a sandbox
    given to two runs would show the other's."""
    settings = make_settings(data_dir, warm_sandboxes=2)
    engine = Engine(settings, registry, sandbox_backend(settings))
    python = registry.get("python")
    limits = resolve_limits(settings, language=python.limits)
    first = engine.run(python, CHECK_AND_PLANT, limits=limits)
    assert first.stdout == "[] [] ['main.py']\nplanted\n", first
    _wait_for_warm(settings, 2)
    with timing.collect() as phases, ThreadPoolExecutor(4) as pool:
        results = list(
            pool.map(lambda _: engine.run(python, CHECK_AND_PLANT, limits=limits), range(24))
        )
    for result in results:
        assert (result.status, result.stdout) == (
            Status.OK,
            "[] [] ['main.py']\nplanted\n",
        ), result
    made = len(phases.get("cgroup create", []))
    assert made < 24, phases  # some of them took a sandbox started ahead of time
