"""Dispatch: how accepted runs reach a worker (embedded pool now, a shared queue later)."""

from execbox.dispatch.base import Dispatcher, JobOutcome, LiveDispatcher, RunJob
from execbox.dispatch.local import LocalDispatcher
from execbox.errors import NoCapacity  # where the dispatcher's refusal lives: the one tree

__all__ = [
    "Dispatcher",
    "JobOutcome",
    "LiveDispatcher",
    "LocalDispatcher",
    "NoCapacity",
    "RunJob",
]
