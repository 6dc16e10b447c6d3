"""The start-up self-test passes on the real sandbox and fails on one that does not hold."""

from __future__ import annotations

from pathlib import Path

from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.sandbox.fake import FakeBackend
from execbox.selftest import PROBES, run_selftest
from execbox.settings import Settings


def test_every_probe_holds_on_the_real_sandbox(engine: Engine) -> None:
    checks = run_selftest(engine)
    assert [c.name for c in checks] == [p.name for p in PROBES]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]


def test_a_backend_that_does_not_confine_fails_the_self_test(
    tmp_path: Path, registry: LanguageRegistry
) -> None:
    # The fake runs nothing and claims every program exited 0: the probes see through it.
    engine = Engine(Settings(data_dir=tmp_path), registry, FakeBackend())
    failed = {c.name for c in run_selftest(engine) if not c.ok}
    assert {"hello world", "memory limit holds", "no new namespaces", "not root"} <= failed
