"""``execbox api`` nodes and ``execbox worker`` processes, started as an operator starts them.

A :class:`Deployment` is one service: a database on the private PostgreSQL cluster, a
private Redis, and the nodes and workers a test starts against them.  Workers belong to a
:class:`Host`: this machine, or the test host in its own network namespace, each with
its own data directory and sandbox uid range (as two machines would have), reaching the
servers at the address that host sees them at.  Lease, heartbeat and report periods are
short, so a lost run comes back within seconds rather than the default's tens of seconds.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.anyone import execbox_command_for_anyone
from tests.scaleout.netns import TestHost
from tests.scaleout.processes import Process, free_port, wait_for

EXECBOX = str(Path(sys.executable).with_name("execbox"))
UNPRIVILEGED = "nobody"
# Sandbox uids of this session's own: each host a range of 64, apart from the ranges the
# other test packages take (2.0-2.33 M, 2.4-2.47 M and 2.6-2.67 M).
UID_BASE = 2_700_000 + (os.getpid() % 1000) * 128
CGROUP_NAME = f"execbox-sf{os.getpid()}"

# Short periods, so that a test sees a lease run out within seconds.
FAST = {
    "job_heartbeat_s": "1",
    "queue_sweep_s": "1",
    "queue_reconcile_s": "2",
    "worker_report_s": "0.5",
    "result_poll_s": "0.5",
    "backend_timeout_s": "3",
    "readiness_cache_s": "0",
}


@dataclass
class Host:
    """Where workers run: this machine (``netns`` None) or the test host."""

    name: str
    data_dir: Path
    uid_base: int
    netns: TestHost | None = None
    workers: list[Worker] = field(default_factory=list)
    killed: bool = False
    """Whether a worker of this host was SIGKILLed (and may have left things behind)."""

    def server_address(self) -> str:
        """The address this host reaches Redis and PostgreSQL at."""
        return self.netns.host_address if self.netns else "127.0.0.1"


def _env(settings: Mapping[str, str], home: Path) -> dict[str, str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        **{f"EXECBOX_{name.upper()}": value for name, value in settings.items()},
    }
    if os.environ.get("CI"):
        env["CI"] = os.environ["CI"]
    return env


class ApiNode:
    """``execbox api --host 127.0.0.1 --port P``, as root or as ``nobody``."""

    def __init__(
        self, deployment: Deployment, name: str, unprivileged: bool, **settings: str
    ) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=deployment.root))
        user = UNPRIVILEGED if unprivileged else None
        if user is not None:
            account = pwd.getpwnam(user)
            os.chown(self.data_dir, account.pw_uid, account.pw_gid)
        values = {
            **deployment.settings("127.0.0.1"),
            "data_dir": str(self.data_dir),
            **settings,
        }
        command = list(execbox_command_for_anyone()) if unprivileged else [EXECBOX]
        argv = [*command, "api", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = Process(
            name,
            argv,
            deployment.root / f"{name}.log",
            env=_env(values, self.data_dir),
            user=user,
            cwd=self.data_dir,
            dumps_stacks=True,
        )
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def wait_up(self) -> None:
        wait_for(self._up, 90, f"{self.name} answers /healthz")

    def _up(self) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"{self.name} exited:\n{self.process.log()}")
        try:
            return self.client.get("/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    def metric(self, name: str) -> float | None:
        """A metric's value from ``/metrics`` (None when absent or unreadable)."""
        try:
            text = self.client.get("/metrics").text
        except httpx.HTTPError:
            return None
        found = re.search(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? (\S+)$", text, flags=re.M)
        return float(found.group(1)) if found else None

    def close(self) -> None:
        self.client.close()
        if self.process.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.stop(signal.SIGTERM, timeout=30)


class Worker:
    """``execbox worker --concurrency N`` on a host (in its namespace for the test host)."""

    def __init__(self, deployment: Deployment, host: Host, concurrency: int, name: str) -> None:
        self.name = name
        self.host = host
        values = {
            **deployment.settings(host.server_address()),
            "data_dir": str(host.data_dir),
            "sandbox_uid_base": str(host.uid_base),
            "sandbox_uid_count": "64",
            "cgroup_name": CGROUP_NAME,
        }
        argv = [EXECBOX, "worker", "--concurrency", str(concurrency)]
        if host.netns is not None:
            argv = host.netns.argv(argv)
        self.process = Process(
            name,
            argv,
            deployment.root / f"{name}.log",
            env=_env(values, host.data_dir),
            dumps_stacks=True,
        )
        host.workers.append(self)

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        """SIGKILL: what it leaves (cgroups, run directories) stays until a worker starts
        again on its host."""
        self.host.killed = True
        self.process.kill()

    def close(self) -> None:
        if self.process.alive():
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.stop(signal.SIGTERM, timeout=60)


class Deployment:
    """One service's servers, nodes and workers; :meth:`close` ends every process it began."""

    def __init__(self, root: Path, database_url: str, redis_url: str, test_host: TestHost) -> None:
        self.root = root
        os.chmod(root, 0o755)  # an unprivileged node's data dir lies below
        self._database_url = database_url
        self._redis_url = redis_url
        self.nodes: list[ApiNode] = []
        self.local = Host("local", root / "host-local", UID_BASE)
        self.remote = Host("remote", root / "host-remote", UID_BASE + 64, netns=test_host)
        for host in (self.local, self.remote):
            host.data_dir.mkdir(mode=0o755)

    def settings(self, address: str) -> dict[str, str]:
        """The settings every process of this service shares, as seen from ``address``."""
        return {
            "database_url": self._database_url.replace("@127.0.0.1:", f"@{address}:"),
            "redis_url": self._redis_url.replace("@127.0.0.1:", f"@{address}:"),
            **FAST,
        }

    def api(self, unprivileged: bool = False, **settings: str) -> ApiNode:
        """A node started (not yet answering: :meth:`wait_up`, :meth:`wait_workers`)."""
        node = ApiNode(self, f"api{len(self.nodes) + 1}", unprivileged, **settings)
        self.nodes.append(node)
        return node

    def worker(self, host: Host | None = None, concurrency: int = 1) -> Worker:
        host = host or self.local
        count = len(self.local.workers) + len(self.remote.workers)
        return Worker(self, host, concurrency, f"worker{count + 1}-{host.name}")

    def all_workers(self) -> list[Worker]:
        return self.local.workers + self.remote.workers

    def wait_up(self) -> None:
        """Until every live node answers."""
        for node in self.nodes:
            if node.process.alive():
                node.wait_up()

    def wait_workers(self, count: int, node: ApiNode | None = None, timeout: float = 90) -> None:
        """Until every live node answers and ``node`` counts ``count`` live workers
        (``execbox_workers``)."""
        self.wait_up()
        node = node or self.nodes[0]

        def enough() -> bool:
            for worker in self.all_workers():
                if not worker.process.alive() and worker.process.popen.returncode not in (
                    0,
                    -signal.SIGKILL,
                    -signal.SIGTERM,
                ):
                    raise RuntimeError(f"{worker.name} exited:\n{worker.process.log()}")
            return node.metric("execbox_workers") == count

        wait_for(enough, timeout, f"{count} workers reported\n{self.logs()}", interval=0.2)

    def users_create(self, name: str, plan: str = "pro") -> str:
        """``execbox users create NAME --plan PLAN`` against this service's database."""
        values = {"database_url": self._database_url, "data_dir": str(self.root)}
        done = subprocess.run(
            [EXECBOX, "users", "create", name, "--plan", plan],
            env=_env(values, self.root),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    def logs(self) -> str:
        parts = []
        for process in [n.process for n in self.nodes] + [w.process for w in self.all_workers()]:
            parts.append(f"--- {process.name} (pid {process.pid}) ---\n{process.log(3000)}")
        return "\n".join(parts)

    def close(self, timeout: float = 60) -> list[str]:
        """SIGTERM to every process at once, then SIGKILL to the process group of any still
        running after ``timeout``: the names of those (with their logs, which end with every
        thread's stack)."""
        processes = [n.process for n in self.nodes] + [w.process for w in self.all_workers()]
        for node in self.nodes:
            node.client.close()
        for process in processes:
            process.send(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        stuck = []
        for process in processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.dump_stacks()
                stuck.append(f"{process.name} (pid {process.pid}):\n{process.log(12000)}")
                process.kill_group()
        return stuck
