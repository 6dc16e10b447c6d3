"""Pick and build the sandbox backend the settings name."""

from __future__ import annotations

from execbox.errors import ConfigError
from execbox.sandbox.base import SandboxBackend
from execbox.settings import Settings


def create_backend(settings: Settings) -> SandboxBackend:
    if settings.backend == "native":
        from execbox.sandbox.native import NativeBackend

        return NativeBackend(settings)
    if settings.backend == "docker":
        from execbox.sandbox.docker import DockerBackend

        return DockerBackend(settings)
    raise ConfigError(f"unknown backend {settings.backend!r}")
