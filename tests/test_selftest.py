"""The start-up self-test passes on the real sandbox.

That it fails on a sandbox that does not hold, probe by probe, is shown against
the null backend in ``tests/test_null_backend.py``.
"""

from __future__ import annotations

from execbox.engine import Engine
from execbox.selftest import PROBES, run_selftest


def test_every_probe_holds_on_the_real_sandbox(engine: Engine) -> None:
    checks = run_selftest(engine)
    assert [c.name for c in checks] == [p.name for p in PROBES]
    assert all(c.ok for c in checks), [c for c in checks if not c.ok]
