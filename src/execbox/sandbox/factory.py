"""Pick and build the sandbox backend the settings name, and ask it what it offers."""

from __future__ import annotations

import logging

from execbox.errors import ConfigError, SandboxError
from execbox.languages.registry import Language, LanguageRegistry
from execbox.sandbox.base import SandboxBackend
from execbox.settings import Settings

log = logging.getLogger(__name__)


def create_backend(settings: Settings) -> SandboxBackend:
    if settings.backend == "native":
        from execbox.sandbox.native import NativeBackend

        return NativeBackend(settings)
    if settings.backend == "docker":
        from execbox.sandbox.docker import DockerBackend

        return DockerBackend(settings)
    raise ConfigError(f"unknown backend {settings.backend!r}")


def offered(registry: LanguageRegistry, backend: SandboxBackend) -> LanguageRegistry:
    """The languages ``backend`` can run here (the host's toolchains, or Docker images)."""
    return registry.only(lang.id for lang in registry.all() if backend.offers(lang))


def versions(
    registry: LanguageRegistry, backend: SandboxBackend
) -> list[tuple[Language, str | None]]:
    """Each language with the version its programs run with on ``backend`` (None if unknown)."""
    found: list[tuple[Language, str | None]] = []
    for language in registry.all():
        try:
            version = backend.language_version(language)
        except SandboxError as exc:
            log.warning("cannot read the %s version: %s", language.id, exc)
            version = None
        found.append((language, version))
    return found
