"""Fixtures of the scale-out tests: the test host, private servers, one deployment per test.

The session makes one network namespace (the second "host") and one PostgreSQL cluster;
each test gets a fresh database on it, a Redis of its own and a :class:`Deployment` whose
nodes and workers it starts.  After each test every process it started is ended, and no
program of this session's sandboxes may be left running, nor a mount under its
directories.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.host_processes import processes_of_uids
from tests.scaleout.netns import TestHost
from tests.scaleout.nodes import CGROUP_NAME, UID_BASE, Deployment
from tests.scaleout.sandboxes import mounts_under
from tests.scaleout.services import (
    PostgresCluster,
    RedisServer,
    remove_stale_scratch,
    scratch_prefix,
)

SESSION_UIDS = range(UID_BASE, UID_BASE + 128)


@pytest.fixture(scope="session")
def test_host() -> Iterator[TestHost]:
    host = TestHost()
    try:
        yield host
    finally:
        host.close()


@pytest.fixture(scope="session", autouse=True)
def _cgroup_tree() -> Iterator[None]:
    """At the end, the cgroup tree of this session's workers goes (killed ones leave theirs)."""
    remove_stale_scratch()
    yield
    deadline = time.monotonic() + 10  # a killed program's cgroup empties once it is reaped
    roots = list(Path("/sys/fs/cgroup").glob(f"*/{CGROUP_NAME}"))
    while roots and time.monotonic() < deadline:
        for root in roots:
            for folder, _, _ in os.walk(root, topdown=False):
                with contextlib.suppress(OSError):
                    os.rmdir(folder)
        roots = [root for root in roots if root.exists()]
        time.sleep(0.2)


@pytest.fixture(scope="session")
def postgres(test_host: TestHost) -> Iterator[PostgresCluster]:
    cluster = PostgresCluster(["127.0.0.1", test_host.host_address])
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def redis(test_host: TestHost) -> Iterator[RedisServer]:
    server = RedisServer(["127.0.0.1", test_host.host_address])
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def deployment(
    postgres: PostgresCluster, redis: RedisServer, test_host: TestHost
) -> Iterator[Deployment]:
    root = Path(tempfile.mkdtemp(prefix=scratch_prefix("scaleout"), dir="/var/tmp"))
    if postgres.process is None or not postgres.process.alive():
        postgres.start()  # a test before stopped it and failed before starting it again
    with postgres.database() as name:
        service = Deployment(root, postgres.url(name), redis.url(), test_host)
        try:
            yield service
        finally:
            stuck = service.close()
            if stuck:  # shown with the test's output; the SIGTERM test checks the exit
                print("not ended by SIGTERM within 60 s:\n" + "\n".join(stuck), file=sys.stderr)
            deadline = time.monotonic() + 5
            while processes_of_uids(SESSION_UIDS, zombies=False) and time.monotonic() < deadline:
                time.sleep(0.1)
            left = processes_of_uids(SESSION_UIDS, zombies=False)
            # What a SIGKILLed worker left stays until a worker starts on its host again
            # (a test of its own checks that); on other hosts nothing may be left.
            kept = [h.data_dir for h in (service.local, service.remote) if not h.killed]
            mounts = mounts_under(root)
            for mount in sorted(mounts, reverse=True):
                subprocess.run(["umount", "-l", mount], check=False)
            shutil.rmtree(root, ignore_errors=True)
            assert left == [], f"sandboxed programs outlived their workers: {left}"
            unexpected = [m for m in mounts if any(m.startswith(f"{d}/") for d in kept)]
            assert unexpected == [], f"mounts left by workers that were not killed: {unexpected}"
