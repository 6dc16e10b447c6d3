"""What a killed execbox process left (its run directory still mounted, its step cgroup) is
removed by the next execbox that starts on the same data dir, by owner: pid *and* start time
(``execbox.sandbox.leftovers``).  The Docker side has its own tests in ``test_docker.py``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from execbox.sandbox.leftovers import owner_tag
from execbox.sandbox.native.cgroups import CgroupTree
from tests import scratch
from tests.conftest import UID_BASE, UID_COUNT

EXECBOX = str(Path(sys.executable).with_name("execbox"))


def _cgroups_of(tag: str) -> list[str]:
    """Step cgroups named after owner ``tag``, wherever this host puts execbox's."""
    roots = {*CgroupTree.detect("execbox").roots.values()}
    return sorted(
        str(entry)
        for root in roots
        if root.is_dir()
        for entry in root.iterdir()
        if entry.name.startswith(f"{tag}_")
    )


def _run_dirs_of(runs: Path, tag: str) -> list[str]:
    return [point for point in scratch.mounts_under(runs) if Path(point).name.startswith(tag)]


def test_what_a_killed_execbox_left_is_removed_when_the_next_one_starts() -> None:
    with scratch.data_dir("test") as data:
        env = {
            **os.environ,
            "EXECBOX_DATA_DIR": str(data),
            "EXECBOX_SANDBOX_UID_BASE": str(UID_BASE),
            "EXECBOX_SANDBOX_UID_COUNT": str(UID_COUNT),
        }
        waiting = data / "wait.py"
        waiting.write_text("import time\nprint('started', flush=True)\ntime.sleep(120)\n")
        with subprocess.Popen(
            [EXECBOX, "run", str(waiting)], env=env, stdout=subprocess.PIPE
        ) as victim:
            try:
                assert victim.stdout is not None
                assert victim.stdout.readline() == b"started\n"
                tag = owner_tag(victim.pid)
            finally:
                victim.kill()
                victim.wait(timeout=60)
        # What it left, for lack of a chance to clean up: the leftovers exist.
        runs = data / "runs"
        assert _run_dirs_of(runs, tag) != [], scratch.mounts_under(runs)
        assert _cgroups_of(tag) != []

        hello = data / "hello.py"
        hello.write_text("print('hello')\n")
        done = subprocess.run(
            [EXECBOX, "run", str(hello)], env=env, capture_output=True, text=True, timeout=120
        )
        assert (done.returncode, done.stdout) == (0, "hello\n"), done.stderr
        assert _run_dirs_of(runs, tag) == []
        assert [entry.name for entry in runs.iterdir() if entry.name.startswith(tag)] == []
        assert _cgroups_of(tag) == []
