"""Fixtures of the scale-out tests: the test host and private servers.

The session makes one network namespace (the second "host") and one PostgreSQL cluster;
each test gets a Redis of its own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scaleout.netns import TestHost
from tests.scaleout.services import PostgresCluster, RedisServer


@pytest.fixture(scope="session")
def test_host() -> Iterator[TestHost]:
    host = TestHost()
    try:
        yield host
    finally:
        host.close()


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
