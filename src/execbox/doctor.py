"""``execbox doctor``: which backends work here, each language's test program, what to fix.

It never falls back to anything: a backend whose checks fail is reported as
unusable, and the service refuses runs on it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING

from execbox.errors import ExecboxError
from execbox.settings import Settings

if TYPE_CHECKING:
    from execbox.engine import Engine
    from execbox.languages import Language, LanguageRegistry


def diagnose(
    settings: Settings,
    backends: Iterable[str],
    echo: Callable[[str], None],
    languages: Sequence[str] = (),
    registry: LanguageRegistry | None = None,
) -> bool:
    """Print a report; True when the configured backend can run every language it offers
    (or every one of ``languages``, when given)."""
    from execbox.engine import Engine
    from execbox.languages import load_registry
    from execbox.sandbox.factory import create_backend
    from execbox.selftest import run_selftest

    registry = registry or load_registry()
    chosen = [registry.get(name) for name in languages] or registry.all()
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
        offered = [lang for lang in chosen if backend.offers(lang)]
        for lang in chosen:
            if lang not in offered:
                how = (
                    f"apt-get install {' '.join(lang.packages)}"
                    if name == "native"
                    else f"execbox images build {lang.id}"
                )
                echo(f"  [skip] {lang.id}: not installed here ({how})")
        # The test programs run side by side: some compile for many seconds (kotlinc, scalac).
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            results = list(pool.map(partial(_test_program, engine, settings), offered))
        for lang, (works, detail) in zip(offered, results, strict=True):
            healthy = healthy and (works or name != settings.backend)
            echo(f"  [{'ok' if works else 'FAIL':>4}] {lang.id}: {detail}")
        close = getattr(backend, "close", None)  # its sandboxes' teardowns, warm ones
        if close is not None:
            close()
    return healthy


def _test_program(engine: Engine, settings: Settings, lang: Language) -> tuple[bool, str]:
    """Run ``lang``'s test program (which prints OK); whether it did, and a detail line."""
    from execbox.limits import resolve_limits

    result = engine.run(
        lang, lang.test_program, limits=resolve_limits(settings, language=lang.limits)
    )
    works = result.status == "ok" and result.stdout.strip() == "OK"
    if not works:
        return False, f"{result.status}: {result.message or result.stderr.strip()[:200]}"
    return True, f"{result.version or ''} {result.duration_ms:.0f} ms".strip()
