"""``execbox run``, ``languages`` and ``doctor`` as a user types them (real sandbox)."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import scratch
from tests.conftest import UID_BASE, UID_COUNT, make_settings

EXECBOX = str(Path(sys.executable).with_name("execbox"))


@pytest.fixture
def cli_env(data_dir: Path) -> dict[str, str]:
    return {
        **os.environ,
        "EXECBOX_DATA_DIR": str(data_dir),
        "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
        "EXECBOX_SANDBOX_UID_COUNT": str(UID_COUNT),
    }


def execbox(env: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXECBOX, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_run_json_prints_the_result_object(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "hello.py"
    source.write_text("import sys\nprint('Hello', sys.argv[1:])\nprint(input())\n")
    done = execbox(
        cli_env, "run", str(source), "--json", "--stdin", "-", "--", "x", "y", stdin="from stdin\n"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok"
    assert result["stdout"] == "Hello ['x', 'y']\nfrom stdin\n"
    assert result["exitCode"] == 0 and result["signal"] is None
    assert set(result) >= {
        "language",
        "version",
        "durationMs",
        "cpuTimeMs",
        "memoryUsed",
        "truncated",
        "compileOutput",
        "message",
        "stderr",
    }


def test_run_plain_passes_output_through(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "main.c"
    source.write_text('#include <stdio.h>\nint main(void){puts("from C");return 0;}\n')
    done = execbox(cli_env, "run", str(source))
    assert done.returncode == 0
    assert done.stdout == "from C\n"


def test_program_failure_exits_1(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "fail.js"
    source.write_text("process.exit(3)\n")
    done = execbox(cli_env, "run", str(source), "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["exitCode"] == 3


def test_timeout_option_and_status(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "sleep.sh"
    source.write_text("sleep 30\n")
    done = execbox(cli_env, "run", str(source), "--time-limit", "1", "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "timeout"


def test_language_option_overrides_the_extension(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "script.txt"
    source.write_text("echo from bash\n")
    done = execbox(cli_env, "run", str(source), "--language", "sh")
    assert (done.returncode, done.stdout) == (0, "from bash\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "/nonexistent/x.py"], "cannot read"),
        (["run", "{src}", "--language", "brainfuck"], "Unknown language"),
        (["run", "{src}", "--time-limit", "0"], "timeLimit must be a positive"),
        (["run", "{src}", "--time-limit", "99999"], "timeLimit may be at most"),
        (["run", "{src}", "--memory-limit", "-5"], "memoryLimit must be a positive"),
        (["run", "{src}", "--stdin", "/nonexistent"], "cannot read stdin"),
    ],
)
def test_usage_errors_exit_2_with_a_message(
    tmp_path: Path, cli_env: dict[str, str], args: list[str], message: str
) -> None:
    source = tmp_path / "ok.py"
    source.write_text("print(1)\n")
    done = execbox(cli_env, *[a.replace("{src}", str(source)) for a in args])
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_unknown_extension_is_a_usage_error(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "x.unknownext"
    source.write_text("x")
    done = execbox(cli_env, "run", str(source))
    assert done.returncode == 2
    assert "Unknown language" in done.stderr and "python" in done.stderr


def test_sandbox_failure_is_internal_error_and_exit_2(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = tmp_path / "hello.py"
    source.write_text("print('must not run unsandboxed')\n")
    env = {
        **cli_env,
        "EXECBOX_SANDBOX_BUILDER": "bubblewrap",
        "EXECBOX_BWRAP_PATH": "/nonexistent/bwrap",
    }
    done = execbox(env, "run", str(source), "--json")
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["status"] == "internal_error"
    assert "bubblewrap" in result["message"]
    assert "must not run" not in done.stdout.replace(result["message"], "")


def test_languages_lists_what_works_here(cli_env: dict[str, str]) -> None:
    done = execbox(cli_env, "languages", "--json")
    assert done.returncode == 0
    rows = {row["id"]: row for row in json.loads(done.stdout)}
    assert {"python", "javascript", "c", "cpp", "java", "bash"} <= set(rows)
    assert rows["javascript"]["aliases"] == ["node", "js", "nodejs"]
    assert rows["python"]["version"].startswith("3.")


def test_doctor_reports_the_native_backend_healthy(cli_env: dict[str, str]) -> None:
    done = execbox(cli_env, "doctor", "--backend", "native", "--languages", "python,java,c")
    assert done.returncode == 0, done.stdout
    assert "[  ok] sandbox builder: execbox-sandbox, built with " in done.stdout
    assert "[  ok] python" in done.stdout and "[  ok] java" in done.stdout
    assert "[  ok] c:" in done.stdout and "[  ok] ruby" not in done.stdout  # only those asked


def test_languages_all_lists_every_language_with_its_packages(cli_env: dict[str, str]) -> None:
    rows = json.loads(execbox(cli_env, "languages", "--all", "--json").stdout)
    by_id = {row["id"]: row for row in rows}
    assert len(by_id) == 45 and by_id["python"]["installed"] is True
    assert by_id["python"]["packages"] == ["python3"]
    installed = json.loads(execbox(cli_env, "languages", "--json").stdout)
    assert {row["id"] for row in installed} == {i for i, row in by_id.items() if row["installed"]}


def test_doctor_refuses_an_unknown_language(cli_env: dict[str, str]) -> None:
    done = execbox(cli_env, "doctor", "--backend", "native", "--languages", "python,nope")
    assert done.returncode == 2 and "nope" in done.stderr


def test_doctor_names_the_packages_of_a_language_not_installed(tmp_path: Path) -> None:
    from execbox.doctor import diagnose
    from execbox.languages import load_registry

    (tmp_path / "ghost.toml").write_text(
        'id = "ghost"\nname = "Ghost"\nsource_file = "main.gh"\npackages = ["ghost-lang"]\n'
        'run = ["execbox-no-such-tool", "main.gh"]\ntest_program = "OK"\n'
        '[version]\ncommand = ["execbox-no-such-tool"]\npattern = "(x)"\n'
    )
    lines: list[str] = []
    with scratch.data_dir("test") as data_dir:
        healthy = diagnose(
            make_settings(data_dir),
            ["native"],
            lines.append,
            languages=["python", "ghost"],
            registry=load_registry([tmp_path]),
        )
    assert healthy, lines
    assert "  [skip] ghost: not installed here (apt-get install ghost-lang)" in lines
    assert any(line.startswith("  [  ok] python: 3.") for line in lines), lines


def test_doctor_says_what_to_fix(cli_env: dict[str, str]) -> None:
    env = {
        **cli_env,
        "EXECBOX_SANDBOX_BUILDER": "bubblewrap",
        "EXECBOX_BWRAP_PATH": "/nonexistent/bwrap",
    }
    done = execbox(env, "doctor", "--backend", "native")
    assert done.returncode == 1
    assert "[FAIL] bubblewrap" in done.stdout
    assert "apt-get install bubblewrap" in done.stdout


def test_a_bad_setting_fails_at_start_naming_the_field(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = tmp_path / "ok.py"
    source.write_text("print(1)\n")
    done = execbox({**cli_env, "EXECBOX_MEMORY_LIMIT_MB": "lots"}, "run", str(source))
    assert done.returncode == 2
    assert "memory_limit_mb" in done.stderr
    assert done.stdout == ""


def test_an_absurd_setting_fails_at_start_naming_it(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = tmp_path / "ok.py"
    source.write_text("print(1)\n")
    env = {**cli_env, "EXECBOX_OPEN_FILES_LIMIT": "2000000000"}
    done = execbox(env, "run", str(source))
    assert done.returncode == 2
    assert "open_files_limit" in done.stderr
    assert done.stdout == ""
    done = execbox(env, "run", str(source), "--json")
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["status"] == "internal_error"
    assert "open_files_limit" in result["message"]


def test_a_limit_the_init_cannot_set_is_internal_error_not_the_programs(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    """Under a hard RLIMIT_NOFILE of 1024 the sandbox's init cannot give the program 4096:
    the sandbox failed (it used to be the program's runtime_error, exit code 126)."""
    source = tmp_path / "hello.py"
    source.write_text("print('ran')\n")
    capped = ["prlimit", "--nofile=1024:1024", EXECBOX, "run", str(source), "--json"]

    def run_capped(limit: int) -> subprocess.CompletedProcess[str]:
        env = {**cli_env, "EXECBOX_OPEN_FILES_LIMIT": str(limit)}
        return subprocess.run(capped, env=env, capture_output=True, text=True, timeout=120)

    fits = run_capped(512)
    assert fits.returncode == 0, fits.stderr
    assert json.loads(fits.stdout)["stdout"] == "ran\n"
    done = run_capped(4096)
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "internal_error"
    assert "setrlimit(RLIMIT_NOFILE)" in result["message"]
    assert result["exitCode"] is None and result["stdout"] == ""


def test_an_unusable_data_dir_is_internal_error_not_a_stdin_error(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = tmp_path / "hello.py"
    source.write_text("print('ran')\n")
    done = execbox({**cli_env, "EXECBOX_DATA_DIR": "/proc/x"}, "run", str(source), "--json")
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["status"] == "internal_error"
    assert "/proc/x" in result["message"] and "stdin" not in result["message"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "/nonexistent/x.py"], "cannot read"),
        (["run", "{src}", "--language", "brainfuck"], "Unknown language"),
        (["run", "{src}", "--time-limit", "0"], "timeLimit must be a positive"),
        (["run", "{src}", "--stdin", "/nonexistent"], "cannot read stdin"),
    ],
)
def test_json_prints_a_result_object_for_usage_errors_too(
    tmp_path: Path, cli_env: dict[str, str], args: list[str], message: str
) -> None:
    source = tmp_path / "ok.py"
    source.write_text("print(1)\n")
    done = execbox(cli_env, *[a.replace("{src}", str(source)) for a in args], "--json")
    assert done.returncode == 2
    result = json.loads(done.stdout)
    assert result["status"] == "internal_error"
    assert message in result["message"] and message in done.stderr
    assert result["stdout"] == "" and result["exitCode"] is None


def test_config_prints_the_reference(cli_env: dict[str, str]) -> None:
    done = execbox(cli_env, "config")
    assert done.returncode == 0, done.stderr
    assert "open_files_limit  (EXECBOX_OPEN_FILES_LIMIT)" in done.stdout
    assert "RLIMIT_NOFILE" in done.stdout and "<= 65536" in done.stdout


def test_an_unknown_key_in_the_settings_file_stops_start_up(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    source = tmp_path / "ok.py"
    source.write_text("print(1)\n")
    config = tmp_path / "execbox.toml"
    config.write_text("time_limt_s = 5\n")
    done = execbox({**cli_env, "EXECBOX_CONFIG_FILE": str(config)}, "run", str(source))
    assert done.returncode == 2
    assert "time_limt_s" in done.stderr and str(config) in done.stderr
    assert done.stdout == ""


def test_run_takes_several_files_the_first_is_the_entry(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "lib").mkdir()
    entry = tmp_path / "app.c"
    entry.write_text(
        '#include <stdio.h>\n#include "lib/twice.h"\n'
        'int main(int argc, char **argv) { printf("%d %s\\n", twice(21), argv[argc - 1]); }\n'
    )
    (tmp_path / "lib" / "twice.h").write_text("int twice(int);\n")
    (tmp_path / "lib" / "twice.c").write_text("int twice(int n) { return 2 * n; }\n")
    done = execbox(
        cli_env,
        "run",
        str(entry),
        str(tmp_path / "lib" / "twice.h"),
        str(tmp_path / "lib" / "twice.c"),
        "--",
        "a.c",
        "last",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42 last\n"


def test_run_refuses_a_bad_second_file_name_as_a_usage_error(
    tmp_path: Path, cli_env: dict[str, str]
) -> None:
    (tmp_path / "main.py").write_text("print(1)\n")
    (tmp_path / "-x.py").write_text("")
    done = execbox(cli_env, "run", str(tmp_path / "main.py"), str(tmp_path / "-x.py"))
    assert done.returncode == 2
    assert "file name" in done.stderr


PROMPT = "name = input('Name? ')\nprint(f'Hello, {name}!')\n"


def test_run_streams_output_and_forwards_a_pipe(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """The prompt is on our stdout while the program waits for its answer, which it gets
    through our stdin (a pipe) as we write it."""
    source = tmp_path / "ask.py"
    source.write_text(PROMPT)
    proc = subprocess.Popen(
        [EXECBOX, "run", str(source)],
        env=cli_env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        seen = b""
        while not seen.endswith(b"Name? "):
            chunk = os.read(proc.stdout.fileno(), 100)
            assert chunk, f"no prompt before the end: {seen!r} {proc.communicate()}"
            seen += chunk
        proc.stdin.write(b"Ada\n")
        proc.stdin.close()
        proc.stdin = None  # closed: communicate() must not flush it
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert seen + out == b"Name? Hello, Ada!\n"  # printed once, as it came
    assert b"python" in err  # the status line


def _read_until(fd: int, needle: bytes, seen: bytes = b"", timeout: float = 120) -> bytes:
    """What ``fd`` gives until ``needle`` is in it, or its end (EIO: the terminal closed)."""
    deadline = time.monotonic() + timeout
    while needle not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {needle!r} in {seen!r}"
        if not select.select([fd], [], [], left)[0]:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: every writer of the terminal has closed it
            chunk = b""
        if not chunk:
            break
        seen += chunk
    return seen


def test_run_forwards_a_terminal_as_the_user_types(tmp_path: Path, cli_env: dict[str, str]) -> None:
    """On a terminal, the prompt shows while the program waits, and the line typed after it
    reaches the program."""
    source = tmp_path / "ask.py"
    source.write_text(PROMPT)
    main, side = pty.openpty()
    proc = subprocess.Popen(
        [EXECBOX, "run", str(source)], env=cli_env, stdin=side, stdout=side, stderr=side
    )
    os.close(side)
    try:
        prompted = _read_until(main, b"Name? ")
        assert prompted.endswith(b"Name? "), prompted  # nothing typed yet: it waits for us
        os.write(main, b"Ada\n")
        seen = _read_until(main, b"Hello, Ada!\r\n", prompted)
        assert proc.wait(timeout=120) == 0, seen
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(main)
    assert b"Name? Ada\r\nHello, Ada!\r\n" in seen  # the terminal echoes what was typed


def test_run_stdin_file_is_fed_whole_then_closed(tmp_path: Path, cli_env: dict[str, str]) -> None:
    source = tmp_path / "count.py"
    source.write_text("import sys\nprint(len(sys.stdin.read()))\n")
    data = tmp_path / "in.txt"
    data.write_text("abcdef")
    done = execbox(cli_env, "run", str(source), "--stdin", str(data))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "6\n"
