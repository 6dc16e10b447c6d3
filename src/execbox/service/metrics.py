"""Prometheus metrics, in a registry per app (no process-global state)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from execbox.dispatch import JobOutcome
from execbox.results import Status

_SECONDS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(
        self,
        queue_depth: Callable[[], int],
        in_flight: Callable[[], int],
        workers: Callable[[], int] | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "execbox_runs",
            "Finished runs by language and status.",
            ["language", "status"],
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "execbox_run_duration_seconds",
            "Wall time of a run's program step.",
            ["language"],
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.queue_wait = Histogram(
            "execbox_queue_wait_seconds",
            "Time a run waited for a worker.",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.sandbox_overhead = Histogram(
            "execbox_sandbox_overhead_seconds",
            "Worker time around the program step: sandbox start, compile, clean-up.",
            buckets=_SECONDS,
            registry=self.registry,
        )
        self.sandbox_failures = Counter(
            "execbox_sandbox_failures",
            "Runs that ended internal_error (the sandbox or service failed).",
            registry=self.registry,
        )
        depth = Gauge(
            "execbox_queue_depth",
            "Runs accepted and not yet taken by a worker.",
            registry=self.registry,
        )
        depth.set_function(lambda: float(queue_depth()))
        busy = Gauge(
            "execbox_runs_in_flight", "Runs accepted, not finished.", registry=self.registry
        )
        busy.set_function(lambda: float(in_flight()))
        if workers is not None:  # an API node: the workers it hands runs to
            alive = Gauge(
                "execbox_workers",
                "Worker processes that reported within the last 10 s.",
                registry=self.registry,
            )
            alive.set_function(lambda: float(workers()))

    def observe(self, outcome: JobOutcome) -> None:
        result = outcome.result
        self.runs.labels(result.language, result.status.value).inc()
        self.run_duration.labels(result.language).observe(result.duration_ms / 1000)
        self.queue_wait.observe(outcome.queue_wait_s)
        self.sandbox_overhead.observe(max(0.0, outcome.work_s - result.duration_ms / 1000))
        if result.status is Status.INTERNAL_ERROR:
            self.sandbox_failures.inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
