"""Dispatch: how accepted runs reach a worker (the embedded pool, or the Redis queue).

The implementations are imported from their modules (``dispatch.local`` loads the
engine and the sandbox; an API node must not)."""

from execbox.dispatch.base import (
    Dispatcher,
    JobOutcome,
    LiveDispatcher,
    QueueingDispatcher,
    RunJob,
    ThroughDispatcher,
)
from execbox.errors import NoCapacity  # where the dispatcher's refusal lives: the one tree

__all__ = [
    "Dispatcher",
    "JobOutcome",
    "LiveDispatcher",
    "NoCapacity",
    "QueueingDispatcher",
    "RunJob",
    "ThroughDispatcher",
]
