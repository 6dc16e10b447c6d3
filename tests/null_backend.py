"""A sandbox backend that runs nothing, for proving that tests cannot pass without a sandbox.

With ``EXECBOX_TEST_NULL_BACKEND`` set to one of :data:`MODES` the test fixtures
(``tests/conftest.py``) build this backend instead of the real one, for both
``backend_name`` parameters.  ``tests/test_null_backend.py`` runs the security,
isolation and self-test suites that way and requires every test to fail: a test
that passes against a backend that runs nothing asserts nothing about the sandbox.

- ``fail``: every step (compile and run) exits 1 with no output;
- ``ok``: every step exits 0 with no output.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from execbox.languages.registry import Language
from execbox.limits import Limits
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace

ENV_VAR = "EXECBOX_TEST_NULL_BACKEND"
MODES = {"fail": 1, "ok": 0}


class NullBackend:
    """Every step "runs" at once, prints nothing and exits with the mode's code."""

    name = "null"

    def __init__(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"{ENV_VAR} must be one of {sorted(MODES)}, not {mode!r}")
        self.mode = mode

    @contextmanager
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        yield Workspace(run_id=run_id, limits=limits)

    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        return StepOutcome(
            exit_code=MODES[self.mode],
            signal=None,
            stdout=b"",
            stderr=b"",
            duration_ms=1.0,
            cpu_time_ms=0.5,
            memory_bytes=1 << 20,
        )

    def checks(self) -> Iterator[Check]:
        yield Check("null backend", True, f"runs nothing; every step exits {MODES[self.mode]}")

    def offers(self, language: Language) -> bool:
        return True

    def language_version(self, language: Language) -> str | None:
        return None
