"""The sandbox uid pool: one uid per lease, held with an flock that other pools (other
execbox processes) respect, lent round the range so a uid given back is lent last."""

from __future__ import annotations

from pathlib import Path

import pytest

from execbox.errors import SandboxError
from execbox.sandbox.uids import UidPool


def test_leases_are_distinct_and_the_pool_says_when_every_uid_is_held(tmp_path: Path) -> None:
    pool = UidPool(5000, 3, lock_dir=tmp_path / "uids")
    leases = [pool.acquire() for _ in range(3)]
    assert sorted(lease.uid for lease in leases) == [5000, 5001, 5002]
    with pytest.raises(SandboxError, match="all 3 sandbox uids are in use"):
        pool.acquire()
    leases[1].release()
    assert pool.acquire().uid == 5001


def test_a_uid_given_back_is_lent_again_only_after_the_others(tmp_path: Path) -> None:
    pool = UidPool(5000, 3, lock_dir=tmp_path)
    first = pool.acquire()
    first.release()
    assert [pool.acquire().uid for _ in range(2)] == [5001, 5002]
    assert pool.acquire().uid == first.uid  # the rest are held now: it comes round again


def test_a_uid_another_process_holds_is_skipped(tmp_path: Path) -> None:
    """Another execbox process on the host has a pool of its own over the same range: the
    flock, not this pool's memory, decides."""
    ours, theirs = UidPool(5000, 2, lock_dir=tmp_path), UidPool(5000, 2, lock_dir=tmp_path)
    held = theirs.acquire()
    assert held.uid == 5000
    assert ours.acquire().uid == 5001
    with pytest.raises(SandboxError):
        ours.acquire()
    held.release()
    assert ours.acquire().uid == 5000


def test_the_lock_directory_is_made_again_if_it_is_gone(tmp_path: Path) -> None:
    lock_dir = tmp_path / "run" / "uids"
    pool = UidPool(5000, 2, lock_dir=lock_dir)
    pool.acquire().release()
    for entry in lock_dir.iterdir():
        entry.unlink()
    lock_dir.rmdir()
    assert pool.acquire().uid == 5001
    assert (lock_dir.stat().st_mode & 0o777) == 0o700
