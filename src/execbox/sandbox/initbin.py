"""Build (once) and locate the sandbox's tiny init, ``init.c``.

The binary is compiled statically on the host with the system's C compiler
into ``<data_dir>/lib``, named by the hash of its source, so an upgrade
rebuilds it and concurrent processes never see a half-written file.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from execbox.errors import SandboxUnavailable

SOURCE = Path(__file__).with_name("init.c")


def init_binary(data_dir: Path) -> Path:
    """The path of the compiled init, building it if needed."""
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    lib = data_dir / "lib"
    target = lib / f"execbox-init-{digest}"
    if target.is_file():
        return target
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SandboxUnavailable("no C compiler to build the sandbox init: apt-get install gcc")
    lib.mkdir(parents=True, exist_ok=True, mode=0o755)
    fd, tmp = tempfile.mkstemp(dir=lib, prefix=".init-")
    os.close(fd)
    try:
        for extra in (["-static"], []):
            done = subprocess.run(
                [compiler, "-O2", *extra, "-o", tmp, str(SOURCE)],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode == 0:
                break
        else:
            raise SandboxUnavailable(f"cannot build the sandbox init: {done.stderr.strip()}")
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target
