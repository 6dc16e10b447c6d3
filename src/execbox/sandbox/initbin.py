"""Build (once) and locate a sandbox's tiny static init from its C source.

Each backend has one (``native/init.c``, ``docker/init.c``).  The binary is
compiled statically on the host with the system's C compiler into
``<data_dir>/lib``, named by the hash of its source, so an upgrade rebuilds it
and concurrent processes never see a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from execbox.errors import SandboxUnavailable


def static_binary(source: Path, data_dir: Path, name: str) -> Path:
    """The path of ``source`` compiled statically as ``<data_dir>/lib/<name>-<hash>``."""
    code = source.read_bytes()
    target = data_dir / "lib" / f"{name}-{hashlib.sha256(code).hexdigest()[:16]}"
    if target.is_file():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SandboxUnavailable(f"no C compiler to build {name}: apt-get install gcc")
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{name}-")
        os.close(fd)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot write {name} into {target.parent}: {exc}") from exc
    try:
        done = subprocess.run(
            [compiler, "-O2", "-static", "-o", tmp, str(source)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise SandboxUnavailable(
                f"cannot build {name} statically (apt-get install libc6-dev): "
                + done.stderr.strip()
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
