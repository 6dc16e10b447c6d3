"""The sandbox's tests cannot pass without a sandbox.

The security suite, the isolation suite and the self-test tests run here again
in a pytest subprocess whose fixtures build the null backend
(``tests/null_backend.py``): every step fails, or every step exits 0 with no
output.  Each of those tests must fail there.  A test that passes against a
backend that runs nothing would also pass against a sandbox that does not hold:
a check that something did not happen must prove the program ran and got to the
point where it would have happened.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.selftest import PROBES, run_selftest
from execbox.settings import Settings
from tests.null_backend import ENV_VAR, MODES, NullBackend

ROOT = Path(__file__).resolve().parent.parent
SUITES = ["tests/security", "tests/sandbox/test_isolation.py", "tests/test_selftest.py"]
# The docker variant of a test about the native sandbox's own construction skips by design;
# its native variant must fail like every other test.
BY_DESIGN_SKIPS = (
    "a property of the native backend's construction",
    "the uid pool is the native backend's",
)
TIME_LIMIT_S = 240  # nothing runs: the whole suite takes seconds


def _outcome(case: ET.Element) -> tuple[str, str]:
    for kind in ("failure", "error", "skipped"):
        found = case.find(kind)
        if found is not None:
            return kind, found.get("message", "")
    return "passed", ""


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_sandbox_test_fails_on_a_backend_that_runs_nothing(mode: str, tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            f"--junit-xml={report}",
            f"--basetemp={tmp_path / 'base'}",
            *SUITES,
        ],
        cwd=ROOT,
        env={**os.environ, ENV_VAR: mode},
        capture_output=True,
        text=True,
        timeout=TIME_LIMIT_S,
    )
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    outcomes = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = f"{case.get('classname')}::{case.get('name')}"
        outcomes[name] = _outcome(case)
    assert len(outcomes) >= 100, f"too few tests collected: {sorted(outcomes)}"
    passed = sorted(name for name, (kind, _) in outcomes.items() if kind == "passed")
    assert passed == [], f"passed with a {mode!r} null backend: {passed}"
    errors = sorted(f"{n}: {m}" for n, (kind, m) in outcomes.items() if kind == "error")
    assert errors == [], f"errors (not assertion failures) with a {mode!r} null backend: {errors}"
    skipped = {name: message for name, (kind, message) in outcomes.items() if kind == "skipped"}
    for name, message in skipped.items():
        assert any(reason in message for reason in BY_DESIGN_SKIPS), f"{name}: {message}"
        native = name.replace("docker", "native")
        assert outcomes.get(native, ("missing", ""))[0] == "failure", f"{native} of {name}"
    assert done.returncode == 1, done.stdout[-3000:]


@pytest.mark.parametrize("mode", sorted(MODES))
def test_the_self_test_fails_every_probe_on_a_backend_that_runs_nothing(
    mode: str, tmp_path: Path, registry: LanguageRegistry
) -> None:
    engine = Engine(Settings(data_dir=tmp_path), registry, NullBackend(mode))
    checks = run_selftest(engine)
    assert [c.name for c in checks] == [p.name for p in PROBES]
    assert [c.name for c in checks if c.ok] == []
