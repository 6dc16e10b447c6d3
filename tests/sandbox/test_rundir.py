"""File names a request may give (SECURITY.md F6): checked before anything is written; and
the run directory itself (a tmpfs mounted for the run, named after its owner process).

Unit tests that run no sandbox: they live here rather than in tests/security, where every
test must fail without a sandbox (tests/test_null_backend.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from execbox.errors import InvalidInput, SandboxError
from execbox.sandbox.leftovers import owner_tag, process_start
from execbox.sandbox.rundir import RunDir, check_file_name
from tests import scratch


@pytest.mark.parametrize(
    "name", ["../../etc/x", "/etc/x", "a\x00b", "..", "", "a/../b", "a//b", "a\nb", "x" * 300]
)
def test_f6_bad_file_names_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_file_name(name)
    assert info.value.field == "files"


def test_f6_sub_folders_are_file_names() -> None:
    assert check_file_name("lib/util.py") == "lib/util.py"  # multi-file programs


def test_a_run_directory_is_a_size_capped_tmpfs_owned_by_the_run_and_its_parent_is_made(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "not-yet" / "runs"
    made = RunDir(runs, "r1", 1 << 20, 1_234_567)
    try:
        assert oct(runs.stat().st_mode & 0o777) == oct(0o711)
        assert made.path.parent == runs and made.path.name.endswith("_r1")
        assert made.path.name.startswith(owner_tag() + "_")
        assert str(made.path) in scratch.mounts_under(runs)
        assert made.path.stat().st_uid == 1_234_567
        with pytest.raises(SandboxError, match="cannot create the run directory"):
            RunDir(runs, "r1", 1 << 20, 1_234_567)  # the same run twice: refused, kept
        assert str(made.path) in scratch.mounts_under(runs)
    finally:
        made.remove()
    assert not made.path.exists() and scratch.mounts_under(runs) == []


def test_a_forked_process_names_its_leftovers_after_itself() -> None:
    ours = owner_tag()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, owner_tag().encode())
        os._exit(0)
    os.close(write)
    theirs = os.read(read, 200).decode()
    os.close(read)
    os.waitpid(pid, 0)
    assert ours == owner_tag() == f"{os.getpid()}.{process_start(os.getpid())}"
    assert theirs.startswith(f"{pid}.") and theirs != ours
