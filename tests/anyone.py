"""The ``execbox`` command as a user without privileges (``nobody``) can start it.

``execbox api`` must serve as an unprivileged user, and tests start it as ``nobody``.  The
checkout (and its virtualenv) may sit where such a user cannot reach: a clean clone in a
``mktemp -d`` folder (mode 0700), or a home folder.  Then the installed packages and the
``execbox`` package are linked (or copied) once per test session into a folder everyone may
read, and the system's Python of the same version loads them from there, with nothing of
the checkout or of the system's own site-packages on its path.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import stat
import sys
import sysconfig
import tempfile
from importlib import metadata
from pathlib import Path

import execbox

EXECBOX = str(Path(sys.executable).with_name("execbox"))
SYSTEM_PYTHON = f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}"
# Test tools the API node never imports; leaving them out keeps the copy small.
NOT_NEEDED = ("playwright", "mypy", "*__mypyc*", "__editable__*", "__pycache__")


def others_may_reach(path: Path) -> bool:
    """Whether a user of no group of ours can read ``path`` (and pass every folder above)."""
    real = path.resolve()
    if not real.stat().st_mode & (stat.S_IXOTH if real.is_dir() else stat.S_IROTH):
        return False
    return all(parent.stat().st_mode & stat.S_IXOTH for parent in real.parents)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _share(source: Path, target: Path) -> None:
    shutil.copytree(
        source,
        target,
        ignore=shutil.ignore_patterns(*NOT_NEEDED),
        copy_function=_link_or_copy,
        symlinks=True,
    )
    for folder, _, _ in os.walk(target):
        os.chmod(folder, 0o755)


@functools.cache
def execbox_command_for_anyone() -> tuple[str, ...]:
    """The argv prefix that starts ``execbox`` for any user (``nobody`` included)."""
    site_dir = Path(sysconfig.get_paths()["purelib"])
    package = Path(execbox.__file__).parent
    if all(others_may_reach(path) for path in (Path(EXECBOX), site_dir, package)) and (
        others_may_reach(Path(sys.executable))
    ):
        return (EXECBOX,)
    shared = Path(tempfile.mkdtemp(prefix="execbox-anyone-"))
    atexit.register(shutil.rmtree, shared, ignore_errors=True)
    os.chmod(shared, 0o755)
    _share(site_dir, shared / "site")
    _share(package, shared / "src" / "execbox")
    [entry] = metadata.entry_points(group="console_scripts", name="execbox")
    module, _, function = entry.value.partition(":")
    code = (
        f"import sys, site; sys.path.insert(0, {str(shared / 'src')!r}); "
        f"site.addsitedir({str(shared / 'site')!r}); "
        f"from {module} import {function} as main; sys.argv[0] = 'execbox'; main()"
    )
    # -S: not the system's own site-packages (a Debian python3-* package could shadow ours).
    return (SYSTEM_PYTHON, "-S", "-c", code)
