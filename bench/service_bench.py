"""End-to-end latency of a Python hello world through ``POST /api/editor/run``.

Not a test: it starts ``execbox serve`` (real sandbox, embedded SQLite) on a free
loopback port, creates a user, warms up, then interleaves N bare runs of
``python3 -c "print('Hello')"`` with N API runs of the same program, and prints
p50/p90 of both and the ratio of the p50s (target for the service: at most 3x).

    .venv/bin/python bench/service_bench.py [-n 200]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from execbox.languages.registry import HOST_PATH

CODE = "print('Hello')"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="runs of each kind")
    options = parser.parse_args()

    exe = str(Path(sys.executable).with_name("execbox"))
    # the interpreter the sandbox runs (languages are looked up on /usr/bin:/bin)
    python = shutil.which("python3", path=HOST_PATH) or "python3"
    data_dir = tempfile.mkdtemp(prefix="execbox-bench-", dir="/var/tmp")
    env = {**os.environ, "EXECBOX_DATA_DIR": data_dir}
    env.pop("EXECBOX_DATABASE_URL", None)
    created = subprocess.run(
        [exe, "users", "create", "bench", "--plan", "pro"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    key = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [exe, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        client = httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"})
        deadline = time.monotonic() + 60
        while True:
            try:
                if client.get("/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

        def api() -> float:
            start = time.perf_counter()
            body = client.post("/api/editor/run", json={"language": "python", "code": CODE}).json()
            elapsed = time.perf_counter() - start
            if body.get("status") != "ok" or body["output"]["stdout"] != "Hello\n":
                raise SystemExit(f"unexpected result: {body}")
            return elapsed

        def bare() -> float:
            start = time.perf_counter()
            subprocess.run([python, "-c", CODE], check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - start

        for _ in range(10):
            api()
            bare()
        api_times: list[float] = []
        bare_times: list[float] = []
        for _ in range(options.n):
            bare_times.append(bare())
            api_times.append(api())
    finally:
        server.terminate()
        server.wait(timeout=60)

    b50, a50 = statistics.median(bare_times) * 1000, statistics.median(api_times) * 1000
    print(f"runs of each kind: {options.n} (interleaved)")
    print(f"bare {python} -c, load {os.getloadavg()[0]:.1f}")
    print(f"bare python3 -c     p50 {b50:7.1f} ms   p90 {_pct(bare_times, 0.9) * 1000:7.1f} ms")
    print(f"POST /api/editor/run p50 {a50:7.1f} ms   p90 {_pct(api_times, 0.9) * 1000:7.1f} ms")
    print(f"ratio of p50s: {a50 / b50:.2f}x (target <= 3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
