"""Dispatch: how accepted runs reach a worker (embedded pool now, a shared queue later)."""

from execbox.dispatch.base import Dispatcher, JobOutcome, NoCapacity, RunJob
from execbox.dispatch.local import LocalDispatcher

__all__ = ["Dispatcher", "JobOutcome", "LocalDispatcher", "NoCapacity", "RunJob"]
