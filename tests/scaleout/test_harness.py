"""The fault tests' harness itself: its servers survive what the tests do to them, and its
test host is a separate network that reaches them only over its veth pair."""

from __future__ import annotations

import os
import subprocess

from tests.scaleout.netns import PREFIX, TestHost
from tests.scaleout.services import PG_BIN, PostgresCluster, RedisServer, listening


def test_postgres_keeps_committed_rows_through_a_crash_and_a_restart(
    postgres: PostgresCluster,
) -> None:
    with postgres.database() as name:
        postgres.psql("CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)", name)
        postgres.kill()
        assert not listening("127.0.0.1", postgres.port)  # the outage is real
        postgres.start()
        postgres.psql("INSERT INTO kept VALUES (43)", name)
        postgres.stop()
        assert not listening("127.0.0.1", postgres.port)
        postgres.start()
        assert postgres.psql("SELECT string_agg(n::text, ',' ORDER BY n) FROM kept", name) == (
            "42,43"
        )


def test_redis_keeps_acknowledged_writes_through_a_crash_and_a_restart(
    redis: RedisServer,
) -> None:
    assert redis.command("SET", "before-crash", "1") == "OK"
    redis.kill()
    assert redis.command("PING") == ""  # the outage is real
    redis.start()
    assert redis.command("SET", "before-restart", "2") == "OK"
    redis.stop()
    assert not listening("127.0.0.1", redis.port)
    redis.start()
    assert redis.command("MGET", "before-crash", "before-restart").split() == ["1", "2"]


def test_the_test_host_reaches_the_servers_over_its_veth_pair_only(
    test_host: TestHost, postgres: PostgresCluster, redis: RedisServer
) -> None:
    mine = os.readlink("/proc/self/ns/net")
    inside = test_host.run(["readlink", "/proc/self/ns/net"])
    assert inside.returncode == 0 and inside.stdout.strip() not in ("", mine), inside
    # Redis and PostgreSQL answer, with their passwords, at the host side's address...
    ping = test_host.run(
        [
            *("redis-cli", "-h", test_host.host_address, "-p", str(redis.port)),
            *("--no-auth-warning", "-a", redis.password, "PING"),
        ]
    )
    assert ping.stdout.strip() == "PONG", ping
    env = ["env", f"PGPASSWORD={postgres.password}", "PGCONNECT_TIMEOUT=5"]
    query = test_host.run(
        [
            *env,
            *(str(PG_BIN / "psql"), "-h", test_host.host_address, "-p", str(postgres.port)),
            *("-U", "postgres", "-d", "postgres", "-qAt", "-c", "SELECT inet_client_addr()"),
        ]
    )
    assert query.stdout.strip() == test_host.inner_address, query
    # ...and not on the namespace's own loopback: it is another host's network.
    loopback = test_host.run(["redis-cli", "-h", "127.0.0.1", "-p", str(redis.port), "PING"])
    assert "PONG" not in loopback.stdout, loopback
    # The test host shares this machine's cgroups, which its workers' sandboxes need.
    cgroups = test_host.run(["ls", "/sys/fs/cgroup"])
    assert sorted(cgroups.stdout.split()) == sorted(os.listdir("/sys/fs/cgroup")), cgroups


def test_a_test_host_left_by_a_dead_session_is_removed() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = f"{PREFIX}-{dead.pid}"
    subprocess.run(["ip", "netns", "add", stale], check=True)
    subprocess.run(
        ["ip", "link", "add", f"{PREFIX}{dead.pid}h", "type", "veth", "peer", "name", "xbtpeer"],
        check=True,
    )
    subprocess.run(["ip", "link", "set", "xbtpeer", "netns", stale], check=True)
    try:
        host = TestHost(index=1)  # a second one in this session
        host.close()
        assert not host.exists()
        listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert stale not in listed.split()
        link = subprocess.run(["ip", "link", "show", f"{PREFIX}{dead.pid}h"], capture_output=True)
        assert link.returncode != 0
    finally:
        subprocess.run(["ip", "netns", "delete", stale], capture_output=True)
