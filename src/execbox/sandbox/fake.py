"""An in-memory backend for tests of the layers above the sandbox (API, queue, store).

It runs nothing: a run's stdout is its stdin, and a few marker strings in the
source pick an outcome, so the service can be tested without starting
sandboxes.  The real backends have their own tests against the real runtime.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from execbox.languages.registry import Language
from execbox.limits import Limits
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace

MARKERS: dict[str, dict[str, object]] = {
    "FAKE:TIMEOUT": {"timed_out": True, "signal": 9, "exit_code": None},
    "FAKE:OOM": {"oom_killed": True, "signal": 9, "exit_code": None},
    "FAKE:FAIL": {"exit_code": 1},
}


class FakeBackend:
    name = "fake"

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.steps: list[StepSpec] = []

    @contextmanager
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        yield Workspace(run_id=run_id, limits=limits, handle=dict(files))

    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        self.steps.append(step)
        if self.delay_s:
            time.sleep(self.delay_s)
        files = workspace.handle if isinstance(workspace.handle, dict) else {}
        source = b"".join(files.values())
        facts: dict[str, object] = {"exit_code": 0, "signal": None}
        for marker, outcome in MARKERS.items():
            if marker.encode() in source:
                facts = {"exit_code": 0, "signal": None, **outcome}
        return StepOutcome(
            stdout=step.stdin,
            stderr=b"",
            duration_ms=1.0,
            cpu_time_ms=0.5,
            memory_bytes=1 << 20,
            **facts,  # type: ignore[arg-type]
        )

    def offers(self, language: Language) -> bool:
        return language.host_available()

    def language_version(self, language: Language) -> str | None:
        return language.host_version

    def checks(self) -> Iterator[Check]:
        yield Check("fake backend", True, "runs nothing")
