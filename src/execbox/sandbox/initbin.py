"""Build (once) and locate a sandbox's tiny static helpers from their C source.

Each backend has an init (``native/init.c``, ``docker/init.c``); the native one also a
launcher (``native/launch.c``).  Each is compiled statically on the host into
``<data_dir>/lib``, named by the hash of its source and compiler, so an upgrade rebuilds
it and concurrent processes never see a half-written file.

musl's ``musl-gcc`` is used when it is installed (``apt-get install musl-tools``), the
system's ``gcc`` otherwise.  Every run execs these helpers, and glibc's start-up (static
too) identifies the CPU with dozens of ``CPUID`` instructions, each a trip to the
hypervisor on a virtual machine: on the reference VM an empty glibc program takes
0.66 ms of CPU per exec, a musl one 0.07 ms.
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
    compiler = c_compiler()
    if compiler is None:
        raise SandboxUnavailable(f"no C compiler to build {name}: apt-get install gcc")
    digest = hashlib.sha256(source.read_bytes() + b"\0" + Path(compiler).name.encode())
    target = data_dir / "lib" / f"{name}-{digest.hexdigest()[:16]}"
    if target.is_file():
        return target
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


def c_compiler() -> str | None:
    """The compiler for the helpers: musl's when installed (the fastest start), else gcc."""
    return shutil.which("musl-gcc") or shutil.which("gcc") or shutil.which("cc")
