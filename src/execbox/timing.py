"""Per-phase timings of a run, logged at debug level on the ``execbox.timing`` logger.

Off unless that logger is enabled for DEBUG (``EXECBOX_LOG_TIMING=true`` does it for
``execbox serve``, ``execbox bench --phases`` for its engine runs), and then each phase
logs one line ``phase=<name> ms=<wall ms>``.  Costs one ``isEnabledFor`` check per phase
when off.  Phases of sandboxes started ahead of time are logged when they are started,
by the thread that starts them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("execbox.timing")


@contextmanager
def phase(name: str) -> Iterator[None]:
    if not log.isEnabledFor(logging.DEBUG):
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        log.debug("phase=%s ms=%.3f", name, (time.perf_counter() - start) * 1000)


def record(name: str, ms: float) -> None:
    """A phase timed elsewhere (e.g. by the sandbox's init)."""
    if log.isEnabledFor(logging.DEBUG):
        log.debug("phase=%s ms=%.3f", name, ms)


class Marks:
    """Phases one after another: ``mark(name)`` logs the time since the previous mark."""

    def __init__(self) -> None:
        self.on = log.isEnabledFor(logging.DEBUG)
        self._last = time.perf_counter() if self.on else 0.0

    def mark(self, name: str) -> None:
        if self.on:
            now = time.perf_counter()
            log.debug("phase=%s ms=%.3f", name, (now - self._last) * 1000)
            self._last = now


class _Collector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.phases: dict[str, list[float]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        name, ms = record.args  # type: ignore[misc]
        self.phases.setdefault(str(name), []).append(float(str(ms)))


@contextmanager
def collect() -> Iterator[dict[str, list[float]]]:
    """Switch the timings on in this process and gather them: phase name -> ms values."""
    collector = _Collector()
    level = log.level
    log.addHandler(collector)
    log.setLevel(logging.DEBUG)
    try:
        yield collector.phases
    finally:
        log.removeHandler(collector)
        log.setLevel(level)


def parse(lines: Iterator[str] | list[str]) -> dict[str, list[float]]:
    """Timings from log lines (another process's log): phase name -> ms values."""
    phases: dict[str, list[float]] = {}
    for line in lines:
        _, found, rest = line.partition("phase=")
        if not found:
            continue
        name, _, ms = rest.rpartition(" ms=")
        try:
            phases.setdefault(name, []).append(float(ms.split()[0]))
        except (ValueError, IndexError):
            continue
    return phases
