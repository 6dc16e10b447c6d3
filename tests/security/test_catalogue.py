"""SECURITY.md's catalogue of attacks, each asserting the outcome it names.

The invariants after every case are checked by fixtures: no process of the run
alive 1 s later, its cgroup and run directory gone, no mount left, host canary
files unchanged (``leftovers``, ``host_invariants``).
"""

from __future__ import annotations

import os
import resource
import socket
import threading
from pathlib import Path

import pytest

from execbox.results import Status
from tests.conftest import EVERY_BUILDER, Runner

pytestmark = EVERY_BUILDER

MB = 1 << 20


def test_r1_memory_bomb(run: Runner) -> None:
    result = run("python", "b = []\nwhile True:\n    b.append(b'x' * (1 << 20))\n")
    assert result.status is Status.MEMORY_LIMIT
    assert result.memory_used <= 128 * MB
    assert result.duration_ms < 5000


def test_r4_fork_bomb_leaves_a_parallel_run_unaffected(run: Runner) -> None:
    parallel: list[object] = []
    thread = threading.Thread(
        target=lambda: parallel.append(run("python", "import time; time.sleep(1); print('ok')"))
    )
    thread.start()
    bomb = run("bash", "echo started\n:(){ :|:& };:\nwait\n", time_limit=3)
    thread.join()
    assert bomb.status in (Status.OK, Status.TIMEOUT, Status.RUNTIME_ERROR)
    assert bomb.stdout.startswith("started\n"), bomb
    assert bomb.duration_ms < 5000
    other = parallel[0]
    assert getattr(other, "status", None) is Status.OK and getattr(other, "stdout", "") == "ok\n"


def test_r6_busy_loop_in_c(run: Runner) -> None:
    result = run("c", "int main(void) { for (;;); }\n", time_limit=2)
    assert result.status is Status.TIMEOUT
    assert 1900 <= result.duration_ms <= 3500
    assert 0.3 <= result.cpu_time_ms / result.duration_ms <= 0.75


def test_r7_sleep(run: Runner) -> None:
    result = run("python", "import time\ntime.sleep(60)\n", time_limit=1)
    assert result.status is Status.TIMEOUT
    assert result.cpu_time_ms < 300


def test_r9_filling_tmp(run: Runner, data_dir: Path) -> None:
    before = os.statvfs(data_dir).f_bfree
    result = run("bash", "dd if=/dev/zero of=/tmp/f bs=1M count=1000 2>&1\n")
    assert "No space left on device" in result.stdout
    assert os.statvfs(data_dir).f_bfree >= before - 1024  # host disk untouched (4 MB slack)
    assert run("bash", "ls -A /tmp | wc -l\n").stdout.strip() == "0"


def test_o1_gigabyte_of_stdout(run: Runner) -> None:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = run("bash", "head -c 1000000000 /dev/zero | tr '\\0' 'y'\n")
    assert result.status is Status.OUTPUT_LIMIT and result.truncated
    assert len(result.stdout) == MB
    assert result.duration_ms < 5000
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    assert grown_kb < 64 * 1024


def test_o4_binary_output(run: Runner) -> None:
    result = run("python", "import sys\nsys.stdout.buffer.write(bytes(range(256)))\n")
    assert result.status is Status.OK
    assert result.stdout.startswith("\x00\x01\x02")
    assert len(result.stdout) == 256  # 128 ASCII + 128 visible replacement characters
    assert result.stdout.count("\ufffd") == 128


def test_f2_system_is_read_only(run: Runner) -> None:
    result = run("bash", "for d in /usr /etc /; do touch $d/x 2>&1; done\n")
    assert result.stdout.count("Read-only file system") == 3


def test_i1_environment(run: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "catalogue-secret")
    result = run(
        "bash",
        "env; echo ---; cat /proc/1/environ /proc/self/environ 2>/dev/null | tr '\\0' '\\n'\n"
        "echo end\n",
    )
    assert result.status is Status.OK, result
    parts = result.stdout.split("---\n")
    assert len(parts) == 2 and parts[1].endswith("\nend\n"), result.stdout
    shell, procfs = parts
    assert "PATH=" in shell and "PATH=" in procfs  # both were read: the program ran that far
    assert "catalogue-secret" not in result.stdout
    assert "EXECBOX" not in result.stdout


def test_n1_raw_and_packet_sockets(run: Runner) -> None:
    code = (
        "import socket\n"
        "for fam, kind in [(socket.AF_INET, socket.SOCK_RAW), (socket.AF_PACKET, socket.SOCK_RAW),"
        " (socket.AF_INET6, socket.SOCK_RAW)]:\n"
        "    try:\n"
        "        socket.socket(fam, kind, 1); print('opened')\n"
        "    except OSError as e:\n"
        "        print('refused', e.errno)\n"
    )
    result = run("python", code)
    assert result.stdout.count("refused") == 3, result.stdout


def test_n3_host_services_see_no_connection(run: Runner) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.setblocking(False)
        ports = (server.getsockname()[1], 5432, 6379, 6390, 8000, 2375)
        code = (
            "import socket\n"
            f"for port in {ports!r}:\n"
            "    try:\n"
            "        socket.create_connection(('127.0.0.1', port), timeout=1)\n"
            "        print('open', port)\n"
            "    except OSError:\n"
            "        print('refused', port)\n"
        )
        result = run("python", code)
        assert result.status is Status.OK, result
        assert result.stdout.splitlines() == [f"refused {port}" for port in ports]
        with pytest.raises(BlockingIOError):
            server.accept()


def test_p1_privilege_escalation_fails(run: Runner) -> None:
    code = (
        "su root -c id </dev/null 2>&1 | tail -1\n"
        "sudo -n id 2>&1 | tail -1\n"
        "grep -E '^(NoNewPrivs|CapEff)' /proc/self/status\n"
        "id -u\n"
    )
    result = run("bash", code)
    assert result.status is Status.OK, result
    assert "uid=0" not in result.stdout
    assert "NoNewPrivs:\t1" in result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout
    assert result.stdout.split()[-1] != "0"


SYSCALL = (
    "import ctypes, os\n"
    "libc = ctypes.CDLL(None, use_errno=True)\n"
    "def call(nr, *args):\n"
    "    r = libc.syscall(nr, *args)\n"
    "    return 'ok' if r >= 0 else os.strerror(ctypes.get_errno())\n"
)


def test_p3_new_user_namespace(run: Runner) -> None:
    result = run("python", SYSCALL + "print(call(272, 0x10000000))\n")  # unshare(CLONE_NEWUSER)
    assert result.stdout.strip() == "Operation not permitted"


@pytest.mark.parametrize(
    ("name", "nr", "args"),
    [
        ("bpf", 321, (0, 0, 0)),
        ("perf_event_open", 298, (0, 0, -1, -1, 0)),
        ("userfaultfd", 323, (0,)),
        ("io_uring_setup", 425, (1, 0)),
        ("keyctl", 250, (0, 0)),
    ],
)
def test_p5_kernel_attack_surface(run: Runner, name: str, nr: int, args: tuple[int, ...]) -> None:
    result = run("python", SYSCALL + f"print(call({nr}, *{args!r}))\n")
    assert result.stdout.strip() == "Operation not permitted", name


def test_x1_daemon_is_killed(run: Runner) -> None:
    code = (
        "import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(300)\n    os._exit(0)\nprint('bye')\n"
    )
    result = run("python", code)
    assert (result.status, result.stdout) == (Status.OK, "bye\n")
    assert result.duration_ms < 3000


def test_x2_sigterm_ignoring_spawner(run: Runner) -> None:
    code = "trap '' TERM\nfor i in 1 2 3 4 5; do (trap '' TERM; sleep 300) & done\nsleep 300\n"
    result = run("bash", code, time_limit=1)
    assert result.status is Status.TIMEOUT


def test_c2_include_dev_zero(run: Runner) -> None:
    result = run("cpp", '#include "/dev/zero"\nint main() {}\n')
    assert result.status is Status.COMPILE_ERROR
    # stopped by a compile limit (memory or time), not by the compiler giving up
    assert result.message and "limit" in result.message, result
