"""The one boundary between a backend's host-side work and the engine.

A backend's ``workspace`` and ``run_step`` touch the host a great deal (cgroup
files, mounts, pipes, the data dir, dockerd's socket).  Whatever fails there is
the sandbox's failure, never the program's, and the engine turns it into an
``internal_error`` only if it arrives as a :class:`~execbox.errors.SandboxError`.
Rather than a ``try``/``except OSError`` around every host call, each backend
marks those two methods with :func:`sandbox_boundary`: any ``OSError`` escaping
them becomes a ``SandboxError`` saying what the backend was doing, with the
original chained (``raise ... from``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Generator, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, cast

from execbox.errors import SandboxError

F = TypeVar("F", bound=Callable[..., Any])


@contextmanager
def host_failures(doing: str) -> Iterator[None]:
    """Turn an ``OSError`` raised inside into a ``SandboxError`` naming ``doing``."""
    try:
        yield
    except OSError as exc:
        raise SandboxError(f"{doing} failed: {describe(exc)}") from exc


def describe(exc: OSError) -> str:
    """``strerror`` and the file names of an ``OSError``, or its text when it has none."""
    if exc.strerror is None:
        return str(exc) or type(exc).__name__
    text = exc.strerror
    if exc.filename is not None:
        text += f": {exc.filename}"
    if exc.filename2 is not None:
        text += f" -> {exc.filename2}"
    return text


def sandbox_boundary(doing: str) -> Callable[[F], F]:
    """Decorate a backend method (a plain one or a generator behind ``@contextmanager``) so
    that every host-side ``OSError`` it lets out is a ``SandboxError`` about ``doing``."""

    def decorate(func: F) -> F:
        if inspect.isgeneratorfunction(func):

            @functools.wraps(func)
            def generator(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                with host_failures(doing):
                    return (yield from func(*args, **kwargs))

            return cast(F, generator)

        @functools.wraps(func)
        def plain(*args: Any, **kwargs: Any) -> Any:
            with host_failures(doing):
                return func(*args, **kwargs)

        return cast(F, plain)

    return decorate
