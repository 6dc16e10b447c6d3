"""What :class:`execbox.service.runner.RunService` hands back: accepted, queued,
finished and streaming runs."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from execbox.limits import Limits
from execbox.live import LiveRun
from execbox.program import SourceFile
from execbox.results import RunResult
from execbox.service.schemas import RunRequest, RunResponse


@dataclass(frozen=True)
class Accepted:
    """A request that passed every check, as the run log records it."""

    run_id: str
    language: str
    files: list[SourceFile]
    request: RunRequest
    api: str
    api_request: dict[str, Any] | None
    limits: Limits


@dataclass(frozen=True)
class Finished:
    """A run's final result, stored, with the caller's runs today after it."""

    run_id: str
    result: RunResult
    runs_today: int


@dataclass(frozen=True)
class Submitted:
    """An accepted run: its id at once, and ``done`` once it is finished and stored."""

    run_id: str
    done: asyncio.Task[Finished]


@dataclass(frozen=True)
class Queued:
    """An accepted asynchronous run: its id, and the caller's runs today with it."""

    run_id: str
    runs_today: int


@dataclass(frozen=True)
class LiveHandle:
    """An accepted streaming run: its id and language, its live channel (input, stop) and
    the task that ends with its stored result."""

    run_id: str
    language: str
    live: LiveRun
    result: asyncio.Task[RunResponse]
