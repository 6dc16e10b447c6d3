"""``execbox doctor``: which backends work here, each language's test program, what to fix.

It never falls back to anything: a backend whose checks fail is reported as
unusable, and the service refuses runs on it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from execbox.errors import ExecboxError
from execbox.settings import Settings


def diagnose(settings: Settings, backends: Iterable[str], echo: Callable[[str], None]) -> bool:
    """Print a report; True when the configured backend can run every available language."""
    from execbox.engine import Engine
    from execbox.languages import load_registry
    from execbox.limits import resolve_limits
    from execbox.sandbox.factory import create_backend
    from execbox.selftest import run_selftest

    registry = load_registry()
    healthy = True
    for name in backends:
        echo(f"== backend {name}")
        try:
            backend = create_backend(settings.model_copy(update={"backend": name}))
            checks = list(backend.checks())
        except ExecboxError as exc:
            echo(f"  [FAIL] {name}: {exc}")
            healthy = healthy and name != settings.backend
            continue
        for check in checks:
            mark = "ok" if check.ok else "FAIL"
            echo(f"  [{mark:>4}] {check.name}: {check.detail}")
            if not check.ok and check.fix:
                echo(f"         fix: {check.fix}")
        if not all(check.ok for check in checks):
            healthy = healthy and name != settings.backend
            continue
        engine = Engine(settings, registry, backend)
        for check in run_selftest(engine):
            echo(f"  [{'ok' if check.ok else 'FAIL':>4}] self-test: {check.name}: {check.detail}")
            healthy = healthy and (check.ok or name != settings.backend)
        for lang in registry.all():
            if name == "native" and not lang.host_available():
                echo(f"  [skip] {lang.id}: {', '.join(lang.executables())} not installed")
                continue
            limits = resolve_limits(settings, language=lang.limits)
            result = engine.run(lang, lang.test_program, limits=limits)
            works = result.status == "ok" and result.stdout.strip() == "OK"
            detail = f"{lang.host_version or ''} {result.duration_ms:.0f} ms".strip()
            if not works:
                detail = f"{result.status}: {result.message or result.stderr.strip()[:200]}"
                healthy = healthy and name != settings.backend
            echo(f"  [{'ok' if works else 'FAIL':>4}] {lang.id}: {detail}")
    return healthy
