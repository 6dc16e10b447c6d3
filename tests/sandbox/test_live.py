"""Live runs on the real sandboxes (both backends): output as it is written, input while the
program runs, a stop, and every limit as in a collected run."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace

from execbox.engine import Engine
from execbox.limits import resolve_limits
from execbox.live import LiveRun
from execbox.results import RunResult, Status


class Watcher:
    """A live run's output as it comes, with the time each piece arrived."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, bytes]] = []
        self.cond = threading.Condition()

    stage = ""

    def __call__(self, stream: str, data: bytes) -> None:
        with self.cond:
            if stream == "stage":
                self.stage = data.decode()
            elif self.stage == "compile":
                stream = "compile"
            self.events.append((time.monotonic(), stream, data))
            self.cond.notify_all()

    def joined(self, stream: str) -> bytes:
        with self.cond:
            return b"".join(d for _, s, d in self.events if s == stream)

    def wait_for(self, stream: str, needle: bytes, timeout: float = 60) -> float:
        """When ``needle`` was first complete in ``stream``'s output."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                seen = b""
                for at, s, d in self.events:
                    if s == stream:
                        seen += d
                        if needle in seen:
                            return at
                left = deadline - time.monotonic()
                assert left > 0, f"{needle!r} never came on {stream}: {self.events}"
                self.cond.wait(left)


def start(
    engine: Engine,
    language: str,
    code: str,
    *,
    stdin: bytes = b"",
    wall_s: float | None = None,
    max_pending_input: int = 1 << 20,
) -> tuple[LiveRun, Watcher, Callable[[], RunResult]]:
    """A live run in a thread; answers the run, its watcher and a function awaiting the result."""
    watcher = Watcher()
    live = LiveRun(watcher, stdin=stdin, max_pending_input=max_pending_input)
    lang = engine.registry.get(language)
    limits = resolve_limits(engine.settings, language=lang.limits)
    if wall_s is not None:
        limits = replace(limits, time_s=wall_s)
    box: list[RunResult] = []
    thread = threading.Thread(
        target=lambda: box.append(engine.run(lang, code, limits=limits, live=live)), daemon=True
    )
    thread.start()

    def result(timeout: float = 120) -> RunResult:
        thread.join(timeout)
        assert box, "the run did not end"
        return box[0]

    return live, watcher, result


PROMPT = """
import sys
print("What is your name?", flush=True)
name = sys.stdin.readline().strip()
print(f"Hello, {name}!", flush=True)
rest = sys.stdin.read()
print(f"then {len(rest)} bytes", flush=True)
"""


def test_a_prompt_is_answered_while_the_program_runs(engine: Engine, leftovers: None) -> None:
    live, watcher, result = start(engine, "python", PROMPT)
    prompted = watcher.wait_for("stdout", b"What is your name?\n")
    assert live.feed(b"Ada\n")
    watcher.wait_for("stdout", b"Hello, Ada!\n")
    assert live.feed(b"12345")
    live.end_input()
    done = result()
    assert done.status is Status.OK, done
    assert done.stdout == "What is your name?\nHello, Ada!\nthen 5 bytes\n"
    assert watcher.joined("stdout") == done.stdout.encode()
    # the prompt was out before the program could have ended (it waited for the answer)
    assert prompted < watcher.events[-1][0] or len(watcher.events) == 1


def test_upfront_stdin_is_fed_first_then_live_input(engine: Engine, leftovers: None) -> None:
    live, watcher, result = start(engine, "python", PROMPT, stdin=b"Grace\n")
    watcher.wait_for("stdout", b"Hello, Grace!\n")
    live.feed(b"more")
    live.end_input()
    done = result()
    assert done.status is Status.OK, done
    assert done.stdout.endswith("then 4 bytes\n")


def test_first_line_arrives_before_the_program_ends(engine: Engine, leftovers: None) -> None:
    code = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('last')\n"
    _live, watcher, result = start(engine, "python", code)
    first = watcher.wait_for("stdout", b"first\n")
    done = result()
    ended = time.monotonic()
    assert done.status is Status.OK, done
    assert done.stdout == "first\nlast\n"
    assert ended - first >= 2.5  # the program was still sleeping when "first" arrived


def test_a_stop_kills_the_program(engine: Engine, leftovers: None) -> None:
    code = (
        "import itertools, time\n"
        "for i in itertools.count():\n    print(i, flush=True)\n    time.sleep(0.05)\n"
    )
    live, watcher, result = start(engine, "python", code)
    watcher.wait_for("stdout", b"3\n")
    asked = time.monotonic()
    live.stop("Stopped on request.")
    done = result()
    assert time.monotonic() - asked < 10
    assert done.status is Status.RUNTIME_ERROR
    assert done.signal == "SIGKILL" and done.exit_code is None
    assert done.message == "Stopped on request."
    assert done.stdout.startswith("0\n1\n2\n3\n")
    assert watcher.joined("stdout") == done.stdout.encode()


SLOW_COMPILE = """
constexpr long f() {
    long s = 0;
    for (long i = 0; i < 200000; i++) for (long j = 0; j < 200000; j++) s += j;
    return s;
}
static_assert(f() > 0);
int main() {}
"""


def test_a_stop_during_compile_ends_the_run(engine: Engine, leftovers: None) -> None:
    live, _watcher, result = start(engine, "cpp", SLOW_COMPILE)
    time.sleep(2)
    asked = time.monotonic()
    live.stop("Stopped on request.")
    done = result()
    assert time.monotonic() - asked < 10
    assert done.status is Status.RUNTIME_ERROR, done
    assert done.signal == "SIGKILL" and done.message == "Stopped on request."
    assert done.duration_ms < engine.settings.compile_time_limit_s * 1000


def test_output_is_capped_and_streamed_exactly(engine: Engine, leftovers: None) -> None:
    cap = engine.settings.output_limit_bytes
    code = f"import sys\nsys.stdout.write('é' * {cap})\nsys.stderr.write('warn')\n"
    live, watcher, result = start(engine, "python", code)
    live.end_input()
    done = result()
    assert done.status is Status.OUTPUT_LIMIT and done.truncated
    assert done.raw is not None and len(done.raw.stdout) == cap
    assert watcher.joined("stdout") == done.raw.stdout


def test_a_live_run_keeps_the_wall_clock_limit(engine: Engine, leftovers: None) -> None:
    _live, watcher, result = start(
        engine, "python", "import sys\nprint('waiting', flush=True)\nsys.stdin.read()\n", wall_s=2
    )
    watcher.wait_for("stdout", b"waiting\n")
    done = result()
    assert done.status is Status.TIMEOUT, done
    assert done.stdout == "waiting\n"


def test_compile_output_is_streamed(engine: Engine, leftovers: None) -> None:
    _live, watcher, result = start(engine, "c", "int main(void) { return undefined_name; }\n")
    done = result()
    assert done.status is Status.COMPILE_ERROR
    assert done.compile_output and "undefined_name" in done.compile_output
    assert watcher.joined("compile").decode() == done.compile_output


def test_a_live_run_keeps_the_memory_limit(engine: Engine, leftovers: None) -> None:
    code = "print('allocating', flush=True)\nb = []\nwhile True:\n    b.append(bytearray(1 << 20))"
    live, watcher, result = start(engine, "python", code)
    live.end_input()
    done = result()
    assert done.status is Status.MEMORY_LIMIT, done
    assert watcher.joined("stdout") == b"allocating\n"  # it ran, and said so live
    limit = resolve_limits(engine.settings, language=engine.registry.get("python").limits)
    assert 0 < done.memory_used <= limit.memory_bytes


def test_a_live_run_keeps_the_cpu_share(engine: Engine, leftovers: None) -> None:
    code = '#include <stdio.h>\nint main(void) { puts("looping"); fflush(stdout); for (;;); }\n'
    live, watcher, result = start(engine, "c", code, wall_s=2)
    live.end_input()
    watcher.wait_for("stdout", b"looping\n")
    done = result()
    assert done.status is Status.TIMEOUT, done
    assert done.stdout == "looping\n"
    # half a CPU, as in a collected run: at most about half of the wall time is CPU time
    assert 0 < done.cpu_time_ms <= 0.75 * done.duration_ms, done


def test_a_live_run_keeps_the_process_limit(engine: Engine, leftovers: None) -> None:
    code = (
        "import os, time\nn = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            time.sleep(30)\n"
        "        n += 1\n"
        "except OSError as e:\n"
        "    print('fork refused after', n, flush=True)\n"
    )
    live, watcher, result = start(engine, "python", code, wall_s=5)
    live.end_input()
    done = result()
    assert done.status is Status.OK, done
    words = done.stdout.split()
    assert words[:3] == ["fork", "refused", "after"] and int(words[3]) < 64, done
    assert watcher.joined("stdout") == done.stdout.encode()


SAME_EITHER_WAY = """
import sys
data = sys.stdin.read()
print("read", len(data), data.upper(), flush=True)
print("to stderr", file=sys.stderr, flush=True)
sys.exit(3)
"""


def test_a_live_run_ends_as_a_collected_run_of_the_same_program(
    engine: Engine, leftovers: None
) -> None:
    lang = engine.registry.get("python")
    limits = resolve_limits(engine.settings, language=lang.limits)
    collected = engine.run(lang, SAME_EITHER_WAY, limits=limits, stdin="abc\n")
    live, watcher, result = start(engine, "python", SAME_EITHER_WAY, stdin=b"abc\n")
    live.end_input()
    streamed = result()
    assert collected.status is Status.RUNTIME_ERROR, collected
    fields = ("status", "exit_code", "signal", "stdout", "stderr", "truncated")
    assert [getattr(streamed, f) for f in fields] == [getattr(collected, f) for f in fields]
    assert watcher.joined("stdout") == streamed.stdout.encode() == b"read 4 ABC\n\n"
    assert watcher.joined("stderr") == b"to stderr\n"
