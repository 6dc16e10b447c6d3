"""The sandbox's generated ``/etc``: just enough for programs to run, nothing of the host's.

It names the sandbox user, resolves ``localhost``, and carries the dynamic
linker's cache (derived from the host's public library list, not a secret).
Empty directories stand in for the host paths under ``/etc`` a language binds
(the JVM's configuration), because the generated tree is mounted read-only.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

SANDBOX_UID = 1000
SANDBOX_USER = "sandbox"
HOSTNAME = "sandbox"
WORKDIR = "/box"

FILES = {
    "passwd": (
        "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        f"{SANDBOX_USER}:x:{SANDBOX_UID}:{SANDBOX_UID}:{SANDBOX_USER}:{WORKDIR}:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    ),
    "group": f"root:x:0:\n{SANDBOX_USER}:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
    "hostname": f"{HOSTNAME}\n",
    "hosts": f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    "resolv.conf": "",
}


def build_etc(data_dir: Path, bind_points: Iterable[str]) -> Path:
    """The generated /etc tree under ``data_dir`` (built once per content)."""
    points = sorted({p for p in bind_points if p.startswith("/etc/")})
    ld_cache = Path("/etc/ld.so.cache")
    cache = ld_cache.read_bytes() if ld_cache.is_file() else b""
    digest = hashlib.sha256(
        repr((sorted(FILES.items()), points)).encode() + hashlib.sha256(cache).digest()
    ).hexdigest()[:16]
    target = data_dir / f"etc-{digest}"
    if target.is_dir():
        return target
    data_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=data_dir, prefix=".etc-"))
    try:
        for name, text in FILES.items():
            (staging / name).write_text(text)
        if cache:
            (staging / "ld.so.cache").write_bytes(cache)
        for point in points:
            (staging / point.removeprefix("/etc/")).mkdir(parents=True, exist_ok=True)
        for path in [staging, *staging.rglob("*")]:
            os.chmod(path, 0o755 if path.is_dir() else 0o644)
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return target
