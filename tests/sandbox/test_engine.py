"""The engine's statuses and limits, end to end on the real sandbox (every backend)."""

from __future__ import annotations

import pytest

from execbox.languages import LanguageRegistry
from execbox.results import Status
from tests.conftest import Runner

LANGUAGES = ["python", "javascript", "c", "cpp", "java", "bash"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_runs_its_test_program(
    run: Runner, registry: LanguageRegistry, language: str
) -> None:
    result = run(language, registry.get(language).test_program)
    assert result.status is Status.OK, result
    assert result.stdout == "OK\n"
    assert result.exit_code == 0 and result.signal is None
    assert result.version
    assert result.duration_ms > 0 and result.memory_used > 0


def test_runtime_error_reports_exit_code_and_stderr(run: Runner) -> None:
    result = run("python", "print('before')\nraise ValueError('boom')\n")
    assert result.status is Status.RUNTIME_ERROR
    assert result.exit_code == 1
    assert result.stdout == "before\n"
    assert "ValueError: boom" in result.stderr
    assert result.message


def test_exit_137_is_an_exit_code_not_a_signal(run: Runner) -> None:
    result = run("c", "#include <stdlib.h>\nint main(void) { exit(137); }\n")
    assert result.status is Status.RUNTIME_ERROR
    assert (result.exit_code, result.signal) == (137, None)


def test_a_signal_no_limit_explains_is_a_runtime_error_with_the_signal(run: Runner) -> None:
    result = run("c", "int main(void) { volatile int *p = 0; return *p; }\n")
    assert result.status is Status.RUNTIME_ERROR
    assert (result.exit_code, result.signal) == (None, "SIGSEGV")


def test_self_kill_is_sigkill_not_a_limit(run: Runner) -> None:
    result = run("python", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert result.status is Status.RUNTIME_ERROR
    assert result.signal == "SIGKILL"


@pytest.mark.parametrize("language", ["c", "cpp", "java"])
def test_compile_error_shows_the_compilers_message(run: Runner, language: str) -> None:
    code = {
        "c": "int main(void) { return undefined_name; }\n",
        "cpp": "int main() { return undefined_name; }\n",
        "java": "public class Main { public static void main(String[] a) { undefined_name(); } }\n",
    }[language]
    result = run(language, code)
    assert result.status is Status.COMPILE_ERROR
    assert result.compile_output and "undefined_name" in result.compile_output
    assert result.stdout == ""


def test_compile_step_reading_dev_zero_is_a_compile_error(run: Runner) -> None:
    result = run("c", '#include "/dev/zero"\nint main(void) { return 0; }\n')
    assert result.status is Status.COMPILE_ERROR
    # stopped by a compile limit (memory or time), not by the compiler giving up
    assert result.message and "limit" in result.message, result


def test_stdin_and_args_reach_the_program(run: Runner) -> None:
    code = "import sys\nprint(sys.argv[1:])\nprint(sum(int(x) for x in sys.stdin.read().split()))\n"
    result = run("python", code, stdin="1 2 3\n4\n", args=["a b", "--flag", "ü"])
    assert result.status is Status.OK
    assert result.stdout == "['a b', '--flag', 'ü']\n10\n"


def test_large_stdin_echoed_back_does_not_deadlock(run: Runner) -> None:
    data = "x" * 200_000 + "\n"
    result = run("python", "import sys\nsys.stdout.write(sys.stdin.read())\n", stdin=data)
    assert result.status is Status.OK
    assert result.stdout == data


def test_stdin_reaches_compiled_programs(run: Runner) -> None:
    code = '#include <stdio.h>\nint main(void){int a,b;scanf("%d %d",&a,&b);printf("%d\\n",a*b);}\n'
    result = run("c", code, stdin="6 7")
    assert (result.status, result.stdout) == (Status.OK, "42\n")


def test_memory_bomb_hits_the_memory_limit(run: Runner) -> None:
    result = run("python", "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n")
    assert result.status is Status.MEMORY_LIMIT
    assert 0 < result.memory_used <= 128 * 1024 * 1024
    assert result.duration_ms < 10_000


def test_memory_limit_can_be_lowered_by_the_request(run: Runner) -> None:
    code = "x = bytearray(60 << 20)\nprint('allocated')\n"
    assert run("python", code).status is Status.OK
    lowered = run("python", code, memory_limit=32)
    assert lowered.status is Status.MEMORY_LIMIT
    assert lowered.memory_used <= 32 * 1024 * 1024


def test_a_file_size_limit_ends_a_write_past_it(run: Runner) -> None:
    """RLIMIT_FSIZE from the request: ``head`` dies of SIGXFSZ (bash: 128+25) with the file
    cut at the limit; a file under it is written whole."""
    code = (
        "head -c 10000 /dev/zero > small; echo small $(wc -c < small)\n"
        "head -c 200000 /dev/zero > big; echo rc=$?; echo big $(wc -c < big)\n"
    )
    result = run("bash", code, file_size_kb=64)
    assert result.status is Status.OK, result
    assert result.stdout == "small 10000\nrc=153\nbig 65536\n"
    unlimited = run("bash", code)
    assert unlimited.stdout == "small 10000\nrc=0\nbig 200000\n"


def test_busy_loop_times_out_with_half_a_cpu(run: Runner) -> None:
    result = run("c", "int main(void) { for (;;); }\n", time_limit=2)
    assert result.status is Status.TIMEOUT
    assert 1900 <= result.duration_ms <= 4000
    # 0.5 CPU: about half of the wall time is CPU time.
    assert 0.3 * result.duration_ms <= result.cpu_time_ms <= 0.75 * result.duration_ms


def test_sleep_times_out_by_the_wall_clock(run: Runner) -> None:
    result = run("python", "import time\ntime.sleep(60)\n", time_limit=1.5)
    assert result.status is Status.TIMEOUT
    assert 1400 <= result.duration_ms <= 4000
    assert result.cpu_time_ms < 500


def test_sigterm_ignoring_spawner_is_killed_whole(run: Runner) -> None:
    code = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "for _ in range(5):\n"
        "    if os.fork() == 0:\n"
        "        signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "        time.sleep(120)\n"
        "time.sleep(120)\n"
    )
    result = run("python", code, time_limit=1)
    assert result.status is Status.TIMEOUT
    # the leftovers fixture asserts no process of the run is still alive


def test_fork_bomb_is_contained_and_the_next_run_is_fine(run: Runner) -> None:
    bomb = run("bash", ":(){ :|:& };:\nwait\n", time_limit=3)
    assert bomb.status in (Status.TIMEOUT, Status.RUNTIME_ERROR, Status.OK)
    after = run("python", "print('fine')\n")
    assert (after.status, after.stdout) == (Status.OK, "fine\n")


def test_fork_bomb_in_python_hits_the_pids_limit(run: Runner) -> None:
    code = (
        "import os\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            import time; time.sleep(30)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print('fork refused after', n, e.errno)\n"
    )
    result = run("python", code, time_limit=5)
    assert result.status is Status.OK
    assert result.stdout.startswith("fork refused after")
    assert int(result.stdout.split()[3]) < 64


def test_output_flood_is_cut_at_the_cap(run: Runner) -> None:
    result = run("python", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    assert result.status is Status.OUTPUT_LIMIT
    assert result.truncated is True
    assert len(result.stdout) == 1 << 20
    assert set(result.stdout) == {"x"}


def test_stderr_flood_is_cut_too(run: Runner) -> None:
    result = run("bash", "yes error >&2\n")
    assert result.status is Status.OUTPUT_LIMIT
    assert len(result.stderr) == 1 << 20


def test_binary_output_keeps_nul_and_replaces_invalid_bytes_visibly(run: Runner) -> None:
    code = "import sys\nsys.stdout.buffer.write(b'a\\x00b\\xff\\x1b[31mc\\n')\n"
    result = run("python", code)
    assert result.status is Status.OK
    assert result.stdout == "a\x00b\ufffd\x1b[31mc\n"


@pytest.mark.parametrize(
    ("language", "code"),
    [
        ("python", "import platform\nprint(platform.python_version())\n"),
        ("javascript", "console.log(process.versions.node)\n"),
    ],
)
def test_reported_version_is_the_one_the_program_ran_with(
    run: Runner, language: str, code: str
) -> None:
    result = run(language, code)
    assert result.status is Status.OK
    assert result.version == result.stdout.strip()
