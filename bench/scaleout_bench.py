"""What the Redis hop costs: a Python hello world through ``execbox serve`` and through
``execbox api`` + ``execbox worker``, and runs per second with one and with two workers.

Not a test.  It starts, on free loopback ports and one PostgreSQL database (so the
comparison is the queue hop alone): ``execbox serve`` (one worker thread per core) and
``execbox api`` with one ``execbox worker``; it interleaves N synchronous runs on each and
prints p50/p90 of both and the difference of the p50s (target: at most 3 ms).  Then it
sends R runs from C concurrent clients to the API node, with one worker and then with two
(each ``--concurrency`` slots), and prints runs per second.

    .venv/bin/python bench/scaleout_bench.py [-n 200] [-r 200] [-c 8] [--slots 2]

Redis and PostgreSQL: ``EXECBOX_TEST_REDIS_URL`` / ``EXECBOX_TEST_DATABASE_URL`` (as
``scripts/test-services`` writes them to ``.test-services.env``); a database and a queue
of its own are made and removed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
CODE = "print('Hello')"


def _service_url(name: str) -> str:
    url = os.environ.get(name)
    env_file = ROOT / ".test-services.env"
    if not url and env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == name:
                url = value.strip()
    if not url:
        raise SystemExit(f"{name} is not set: run scripts/test-services")
    return url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Bench:
    def __init__(self, redis_url: str, database_url: str) -> None:
        self.exe = str(Path(sys.executable).with_name("execbox"))
        self.data_dir = tempfile.mkdtemp(prefix="execbox-bench-", dir="/var/tmp")
        self.queue = f"bench{uuid.uuid4().hex[:8]}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EXECBOX_")},
            "EXECBOX_DATA_DIR": self.data_dir,
            "EXECBOX_DATABASE_URL": database_url,
            "EXECBOX_REDIS_URL": redis_url,
            "EXECBOX_QUEUE_NAME": self.queue,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str]) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [self.exe, *argv], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self.procs.append(proc)
        return proc

    def http(self, command: str) -> str:
        port = _free_port()
        self.start([command, "--host", "127.0.0.1", "--port", str(port)])
        url = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    return url
            except httpx.HTTPError:
                time.sleep(0.1)
        raise SystemExit(f"execbox {command} did not start")

    def worker(self, slots: int, api: str) -> subprocess.Popen[bytes]:
        before = _workers(api)
        proc = self.start(["worker", "--concurrency", str(slots)])
        for _ in range(1200):
            if _workers(api) > before:
                return proc
            time.sleep(0.1)
        raise SystemExit("execbox worker did not start")

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                self.stop(proc)


def _workers(api: str) -> int:
    for line in httpx.get(api + "/metrics", timeout=10).text.splitlines():
        if line.startswith("execbox_workers "):
            return int(float(line.split()[1]))
    return 0


def _run(client: httpx.Client, key: str) -> float:
    started = time.perf_counter()
    body = client.post(
        "/api/editor/run",
        json={"language": "python", "code": CODE},
        headers={"Authorization": f"Bearer {key}"},
    ).json()
    elapsed = time.perf_counter() - started
    if body.get("status") != "ok":
        raise SystemExit(f"a run failed: {body}")
    return elapsed


def _throughput(api: str, key: str, runs: int, clients: int) -> float:
    def one(_: int) -> float:
        with httpx.Client(base_url=api, timeout=300) as client:
            return _run(client, key)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(one, range(runs)))
    return runs / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="latency runs on each")
    parser.add_argument("-r", type=int, default=200, help="runs for throughput")
    parser.add_argument("-c", type=int, default=8, help="concurrent clients for throughput")
    parser.add_argument("--slots", type=int, default=2, help="--concurrency of each worker")
    options = parser.parse_args()

    admin = _service_url("EXECBOX_TEST_DATABASE_URL")
    redis_url = _service_url("EXECBOX_TEST_REDIS_URL")
    name = f"execbox_bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    database_url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    bench = Bench(redis_url, database_url)
    try:
        created = subprocess.run(
            [bench.exe, "users", "create", "bench", "--plan", "pro"],
            env=bench.env,
            capture_output=True,
            text=True,
            check=True,
        )
        key = created.stdout.strip().splitlines()[-1]
        subprocess.run(
            [bench.exe, "plans", "set", "pro", "--daily-runs", "1000000"],
            env=bench.env,
            capture_output=True,
            check=True,
        )
        serve = bench.http("serve")
        api = bench.http("api")
        first = bench.worker(options.slots, api)

        served, queued = [], []
        with (
            httpx.Client(base_url=serve, timeout=120) as on_serve,
            httpx.Client(base_url=api, timeout=120) as on_api,
        ):
            for _ in range(20):  # warm-up
                _run(on_serve, key)
                _run(on_api, key)
            for _ in range(options.n):
                served.append(_run(on_serve, key))
                queued.append(_run(on_api, key))
        ms = 1000.0
        print(f"hello world, {options.n} runs each (interleaved), PostgreSQL for both:")
        print(
            f"  execbox serve        p50 {_pct(served, 0.5) * ms:7.2f} ms"
            f"  p90 {_pct(served, 0.9) * ms:7.2f} ms"
        )
        print(
            f"  execbox api + worker p50 {_pct(queued, 0.5) * ms:7.2f} ms"
            f"  p90 {_pct(queued, 0.9) * ms:7.2f} ms"
        )
        print(f"  the Redis hop adds   p50 {(_pct(queued, 0.5) - _pct(served, 0.5)) * ms:+7.2f} ms")
        bench.stop(next(p for p in bench.procs if p.args[1] == "serve"))  # type: ignore[index]

        one = _throughput(api, key, options.r, options.c)
        bench.worker(options.slots, api)
        two = _throughput(api, key, options.r, options.c)
        print(f"throughput, {options.r} runs from {options.c} clients, {options.slots} slots each:")
        print(f"  1 worker  {one:7.1f} runs/s")
        print(f"  2 workers {two:7.1f} runs/s  ({os.cpu_count()} cores on this host)")
        _ = first
    finally:
        bench.close()
        client = redis.Redis.from_url(redis_url)
        for pattern in (
            f"saq:{bench.queue}:*",
            f"saq:job:{bench.queue}:*",
            f"execbox:{bench.queue}:*",
        ):
            for found in client.scan_iter(match=pattern, count=500):
                client.delete(found)
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
