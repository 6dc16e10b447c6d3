"""What :class:`execbox.service.runner.RunService` hands back: submitted, queued,
finished and streaming runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from execbox.live import LiveRun
from execbox.results import RunResult
from execbox.service.auth import Caller
from execbox.service.schemas import RunResponse


@dataclass(frozen=True)
class Finished:
    """A run's final result, stored, with the caller's runs today after it."""

    run_id: str
    result: RunResult
    runs_today: int
    caller: Caller
    """Who it ran for, as its admission found them."""


@dataclass(frozen=True)
class Submitted:
    """An accepted run: its id at once, and ``done`` once it is finished and stored."""

    run_id: str
    done: asyncio.Future[Finished]
    caller: Caller
    """Who it runs for, as its admission found them (runs today: before this one)."""


@dataclass(frozen=True)
class Queued:
    """An accepted asynchronous run: its id, and the caller's runs today with it."""

    run_id: str
    runs_today: int
    caller: Caller


@dataclass(frozen=True)
class LiveHandle:
    """An accepted streaming run: its id and language, its live channel (input, stop) and
    the task that ends with its stored result."""

    run_id: str
    language: str
    live: LiveRun
    result: asyncio.Task[RunResponse]
    caller: Caller
    """Who it runs for, as its admission found them."""
