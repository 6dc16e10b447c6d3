"""``execbox run`` and ``execbox doctor`` run one program per language: they start no
sandbox ahead of time (warm), whatever ``EXECBOX_WARM_SANDBOXES`` says, since none would
ever be used.

Watched from the host while they run: a warm sandbox is a run directory named
``<owner tag>_warm-*`` under the data dir's ``runs/`` and a bubblewrap running as a uid of
its own, beside the uid of the sandbox running the program.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from execbox.sandbox.native.backend import close_all
from tests import scratch
from tests.conftest import SANDBOX_UIDS, UID_BASE, UID_COUNT
from tests.host_processes import processes_of_uids
from tests.test_cli import EXECBOX

PROGRAM = (
    "import time\n"
    "print('first sentinel', flush=True)\n"
    "time.sleep(2)\n"
    "print('second sentinel', flush=True)\n"
)


@dataclass
class _Watched:
    """What ``execbox ...`` printed, and what the host showed of its sandboxes meanwhile."""

    returncode: int
    stdout: str
    stderr: str
    uids_at_once: list[set[int]] = field(default_factory=list)
    """At each look: the uids the session's sandbox processes ran as."""
    warm_dirs: set[str] = field(default_factory=set)


def _watch(*args: str) -> _Watched:
    """``execbox *args`` (warm sandboxes asked for), in a data dir of its own, watched until
    it ends."""
    close_all()  # this session's own warm sandboxes (same uid range) go first
    deadline = time.monotonic() + 5
    while processes_of_uids(SANDBOX_UIDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of_uids(SANDBOX_UIDS) == [], "sandboxes of this session still run"
    with scratch.data_dir("test") as data_dir:
        env = {
            **os.environ,
            "EXECBOX_DATA_DIR": str(data_dir),
            "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
            "EXECBOX_SANDBOX_UID_COUNT": str(UID_COUNT),
            "EXECBOX_WARM_SANDBOXES": "4",  # asked for: the command must not start them
        }
        # No stdin to forward: not a live run, the kind a warm sandbox serves.
        cli = subprocess.Popen(
            [EXECBOX, *args],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        uids_at_once: list[set[int]] = []
        warm_dirs: set[str] = set()
        runs = data_dir / "runs"
        try:
            give_up = time.monotonic() + 180
            while cli.poll() is None:
                assert time.monotonic() < give_up, f"execbox {args[0]} did not end"
                uids_at_once.append({p.uid for p in processes_of_uids(SANDBOX_UIDS)})
                if runs.is_dir():
                    warm_dirs.update(p.name for p in runs.iterdir() if "_warm-" in p.name)
                time.sleep(0.02)
            out, err = cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    return _Watched(cli.returncode, out, err, uids_at_once, warm_dirs)


def test_run_starts_no_sandbox_ahead_of_time(tmp_path: Path) -> None:
    source = tmp_path / "sleeper.py"
    source.write_text(PROGRAM)
    watched = _watch("run", str(source), "--json")  # --json: not streamed, so not live
    assert watched.returncode == 0, watched.stderr
    result = json.loads(watched.stdout)
    assert result["status"] == "ok", result
    assert result["stdout"] == "first sentinel\nsecond sentinel\n", result
    # The watch saw the program's sandbox (one uid) while it slept ...
    seen = sum(1 for uids in watched.uids_at_once if uids)
    assert seen >= 10, "the sandbox running it was not seen"
    # ... and never a second one beside it, nor a warm run directory.
    most = max(len(uids) for uids in watched.uids_at_once)
    assert (most, watched.warm_dirs) == (1, set()), f"{most} at once, warm: {watched.warm_dirs}"


def test_doctor_starts_no_sandbox_ahead_of_time() -> None:
    watched = _watch("doctor", "--backend", "native", "--languages", "python,c,java")
    assert watched.returncode == 0, watched.stdout + watched.stderr
    for name in ("self-test: hello world", "python", "c", "java"):
        assert f"[  ok] {name}:" in watched.stdout, watched.stdout
    assert sum(1 for uids in watched.uids_at_once if uids) >= 5, "its sandboxes were not seen"
    # Two uids at once are no sign here: one run's sandbox is torn down in the background
    # while the next one starts.  A warm sandbox's run directory is.
    assert watched.warm_dirs == set()
