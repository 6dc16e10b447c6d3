"""Facts about host processes that cleanup needs: is the owner of a leftover still alive?"""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """Whether a process with this pid exists (whoever owns it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
