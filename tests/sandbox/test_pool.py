"""The warm pool's bookkeeping (the real sandboxes it holds are tested in test_isolation):
a sandbox started ahead of time is handed out once at most, to a claim of its own kind,
and one destroyed is never handed out."""

from __future__ import annotations

import itertools
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from execbox.sandbox.native.pool import WarmPool


def test_each_sandbox_goes_to_one_claim_of_its_kind_at_most() -> None:
    counter = itertools.count()
    made: list[tuple[str, int]] = []
    destroyed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def make(key: str) -> tuple[str, int]:
        item = (key, next(counter))
        with lock:
            made.append(item)
        return item

    def destroy(item: tuple[str, int]) -> None:
        with lock:
            destroyed.append(item)

    pool: WarmPool[str, tuple[str, int]] = WarmPool(make, destroy, size=2, kinds=2)
    keys = (["a", "b"] * 20 + ["c"]) * 5  # three kinds, two kept: some evicted on the way

    def claim(key: str) -> tuple[str, tuple[str, int] | None]:
        item = pool.claim(key)  # as the backend does: claim, then the step
        with pool.step():
            time.sleep(0.001)
        time.sleep(0.005)  # idle a moment: the pool starts sandboxes only then
        return key, item

    with ThreadPoolExecutor(8) as threads:
        claims = list(threads.map(claim, keys))
    pool.close()
    handed = [item for _, item in claims if item is not None]
    assert handed, "no claim got a sandbox started ahead of time"
    assert len(handed) == len(set(handed))  # none twice
    assert all(item[0] == key for key, item in claims if item is not None)  # its own kind
    assert not set(handed) & set(destroyed)  # none handed out after being destroyed
    assert sorted(handed + destroyed) == sorted(made)  # every one accounted for, once
