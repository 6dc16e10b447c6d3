"""``execbox run`` runs one program: it starts no sandbox ahead of time (warm), whatever
``EXECBOX_WARM_SANDBOXES`` says, since none would ever be used.

Watched from the host while the program runs: a warm sandbox is a run directory named
``<owner tag>_warm-*`` under the data dir's ``runs/`` and a bubblewrap running as a uid of
its own, beside the uid of the sandbox running the program.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
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


def _warm_dirs(data_dir: Path) -> list[str]:
    runs = data_dir / "runs"
    return [p.name for p in runs.iterdir() if "_warm-" in p.name] if runs.is_dir() else []


def test_run_starts_no_sandbox_ahead_of_time(tmp_path: Path) -> None:
    close_all()  # this session's own warm sandboxes (same uid range) go first
    deadline = time.monotonic() + 5
    while processes_of_uids(SANDBOX_UIDS) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_of_uids(SANDBOX_UIDS) == [], "sandboxes of this session still run"
    source = tmp_path / "sleeper.py"
    source.write_text(PROGRAM)
    with scratch.data_dir("test") as data_dir:
        env = {
            **os.environ,
            "EXECBOX_DATA_DIR": str(data_dir),
            "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
            "EXECBOX_SANDBOX_UID_COUNT": str(UID_COUNT),
            "EXECBOX_WARM_SANDBOXES": "4",  # asked for: `execbox run` must not start them
        }
        # --json and no stdin to forward: not a live run, the kind a warm sandbox serves.
        cli = subprocess.Popen(
            [EXECBOX, "run", str(source), "--json"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        uids_at_once: list[set[int]] = []
        warm_dirs: set[str] = set()
        try:
            give_up = time.monotonic() + 120
            while cli.poll() is None:
                assert time.monotonic() < give_up, "execbox run did not end"
                uids_at_once.append({p.uid for p in processes_of_uids(SANDBOX_UIDS)})
                warm_dirs.update(_warm_dirs(data_dir))
                time.sleep(0.02)
            out, err = cli.communicate(timeout=30)
        finally:
            if cli.poll() is None:
                cli.kill()
                cli.wait()
    assert cli.returncode == 0, err
    result = json.loads(out)
    assert result["status"] == "ok", result
    assert result["stdout"] == "first sentinel\nsecond sentinel\n", result
    # The watch saw the program's sandbox (one uid) while it slept ...
    assert sum(1 for uids in uids_at_once if uids) >= 10, "the sandbox running it was not seen"
    # ... and never a second one beside it, nor a warm run directory.
    most = max(len(uids) for uids in uids_at_once)
    assert (most, warm_dirs) == (1, set()), f"{most} sandboxes at once, warm: {warm_dirs}"
