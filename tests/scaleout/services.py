"""Private PostgreSQL and Redis servers that a test may stop, kill and restart.

The shared servers ``scripts/test-services`` starts (PostgreSQL on 5432, Redis on
6390) serve every other helper's tests at the same time: a fault test never touches
them.  Instead each session makes its own PostgreSQL 15 cluster (``initdb`` in a
temporary directory, run as the ``postgres`` user, its own port) and each test its own
``redis-server`` (its own port and directory, ``appendonly yes``).  Both listen on
127.0.0.1 and on the host side of the test host's veth pair, so a worker in that network
namespace reaches them as a worker on another machine would.

Without the server programs the tests are skipped, except under CI (``CI=true``),
where that is a failure: ``scripts/setup --test`` installs them.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from tests.scaleout.processes import Process, free_port, wait_for

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def scratch_prefix(kind: str) -> str:
    """The prefix of this session's folders under /var/tmp: ``execbox-<kind>-<pid>-``."""
    return f"execbox-{kind}-{os.getpid()}-"


def remove_stale_scratch() -> None:
    """Folders of sessions that are gone (killed before their fixtures could clean up)."""
    with open("/proc/self/mountinfo") as handle:
        mounts = [line.split()[4] for line in handle]
    for entry in Path("/var/tmp").glob("execbox-*-*-*"):
        parts = entry.name.split("-")
        kind, pid = parts[1], parts[2]
        if kind not in {"pg", "redis", "scaleout"} or not pid.isdigit():
            continue
        mounted = any(mount.startswith(f"{entry}/") for mount in mounts)
        if not os.path.exists(f"/proc/{pid}") and not mounted:
            shutil.rmtree(entry, ignore_errors=True)


def missing(what: str) -> None:
    """Skip (fail under CI) for want of a server program."""
    message = f"{what} is not installed: run scripts/setup --test"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def listening(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


class PostgresCluster:
    """A PostgreSQL 15 cluster of this session's own: a superuser with a password, trust
    on its private Unix socket only, and any number of fresh databases."""

    def __init__(self, listen: Sequence[str]) -> None:
        if not (PG_BIN / "initdb").is_file():
            missing("PostgreSQL 15 (initdb)")
        self.listen = list(listen)
        self.port = free_port()
        self.password = secrets.token_hex(12)
        owner = pwd.getpwnam("postgres")
        self.root = Path(tempfile.mkdtemp(prefix=scratch_prefix("pg"), dir="/var/tmp"))
        os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.data = self.root / "data"
        self.socket_dir = self.root
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        os.chown(pwfile, owner.pw_uid, owner.pw_gid)
        initdb = Process(
            "initdb",
            [
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                f"--pwfile={pwfile}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-sync",
            ],
            self.root / "initdb.log",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            user="postgres",
            cwd=self.root,
        )
        assert initdb.wait(timeout=120) == 0, initdb.log()
        pwfile.unlink()
        # Hosts of the test host's subnet connect over TCP with the password, as remote
        # workers would; nothing else is let in.
        with open(self.data / "pg_hba.conf", "a") as hba:
            hba.write("host all all 10.213.0.0/16 scram-sha-256\n")
        self.process: Process | None = None
        self.start()

    def url(self, database: str, host: str = "127.0.0.1") -> str:
        return f"postgresql+psycopg://postgres:{self.password}@{host}:{self.port}/{database}"

    def start(self) -> None:
        assert self.process is None or not self.process.alive()
        settings = {
            "port": str(self.port),
            "listen_addresses": ",".join(self.listen),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": "200",
            "shared_buffers": "16MB",
            # A crash of the server process keeps what the OS has; only a crash of the
            # machine would need fsync.
            "fsync": "off",
            "full_page_writes": "off",
            "log_min_messages": "warning",
        }
        argv = [str(PG_BIN / "postgres"), "-D", str(self.data)]
        for name, value in settings.items():
            argv += ["-c", f"{name}={value}"]
        self.process = Process(
            "postgres",
            argv,
            self.root / "server.log",
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
            user="postgres",
            cwd=self.root,
        )
        wait_for(self.ready, 60, f"PostgreSQL on port {self.port} answers\n{self.process.log()}")

    def ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"PostgreSQL exited:\n{self.process.log()}")
        return self.psql("select 1", check=False) == "1"

    def psql(self, sql: str, database: str = "postgres", check: bool = True) -> str:
        """One statement as the superuser over the private socket; its output."""
        argv = [str(PG_BIN / "psql"), "-h", str(self.socket_dir), "-p", str(self.port)]
        argv += ["-U", "postgres", "-d", database, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", sql]
        done = subprocess.run(
            argv,
            env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PGCONNECT_TIMEOUT": "5"},
            user="postgres",
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"psql failed: {sql}\n{done.stderr}")
        return done.stdout.strip() if done.returncode == 0 else ""

    @contextlib.contextmanager
    def database(self) -> Iterator[str]:
        """A fresh database's name, dropped afterwards."""
        name = f"execbox_f_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        try:
            yield name
        finally:
            if self.process is not None and self.process.alive():
                self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', check=False)

    def stop(self) -> None:
        """A fast shutdown (what an operator's restart does): clients are disconnected."""
        assert self.process is not None
        self.process.stop(signal.SIGINT, timeout=60)

    def kill(self) -> None:
        """A crash: the postmaster and every backend SIGKILLed."""
        assert self.process is not None
        self.process.kill_group()

    def close(self) -> None:
        if self.process is not None and self.process.alive():
            try:
                self.process.stop(signal.SIGQUIT, timeout=30)
            except Exception:
                self.process.kill_group()
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A ``redis-server`` of one test's own, with its append-only file on (a restart keeps
    every write it acknowledged) and a password (it listens beyond loopback)."""

    def __init__(self, bind: Sequence[str]) -> None:
        self.program = shutil.which("redis-server")
        if self.program is None:
            missing("redis-server")
        self.bind = list(bind)
        self.port = free_port()
        self.password = secrets.token_hex(12)
        self.dir = Path(tempfile.mkdtemp(prefix=scratch_prefix("redis"), dir="/var/tmp"))
        self.process: Process | None = None
        self.start()

    def url(self, host: str = "127.0.0.1") -> str:
        return f"redis://:{self.password}@{host}:{self.port}/0"

    def start(self) -> None:
        assert self.process is None or not self.process.alive()
        assert self.program is not None
        argv = [
            self.program,
            "--port",
            str(self.port),
            "--bind",
            *self.bind,
            "--dir",
            str(self.dir),
            "--requirepass",
            self.password,
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
        ]
        self.process = Process("redis", argv, self.dir / "server.log", env={"PATH": "/usr/bin"})
        wait_for(self.ready, 30, f"Redis on port {self.port} answers\n{self.process.log()}")

    def ready(self) -> bool:
        assert self.process is not None
        if not self.process.alive():
            raise RuntimeError(f"redis-server exited:\n{self.process.log()}")
        return self.command("PING") == "PONG"

    def command(self, *words: str) -> str:
        """One command through ``redis-cli``; its reply ("" when the server is down)."""
        try:
            done = subprocess.run(
                ["redis-cli", "-h", "127.0.0.1", "-p", str(self.port), *words],
                env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": self.password},
                capture_output=True,
                text=True,
                timeout=10,
            )
        except subprocess.TimeoutExpired:
            return ""
        return done.stdout.strip() if done.returncode == 0 else ""

    def stop(self) -> None:
        """A clean shutdown (SIGTERM): the append-only file is flushed."""
        assert self.process is not None
        self.process.stop(signal.SIGTERM, timeout=60)

    def kill(self) -> None:
        """A crash: SIGKILL; what it acknowledged is in the kernel's copy of the file."""
        assert self.process is not None
        self.process.kill()

    def close(self) -> None:
        if self.process is not None and self.process.alive():
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
