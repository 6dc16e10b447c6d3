"""What ``execbox doctor`` says about the Docker backend: dockerd, the runtime, the
container init and each language's image."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import docker

from execbox.errors import SandboxError
from execbox.languages import LanguageRegistry
from execbox.sandbox.base import Check
from execbox.sandbox.docker.images.status import image_checks
from execbox.sandbox.docker.workspace import init_binary
from execbox.settings import Settings


def backend_checks(
    connect: Callable[[], docker.DockerClient], settings: Settings, registry: LanguageRegistry
) -> Iterator[Check]:
    """The checks, ``connect`` giving the backend's client (``SandboxError`` if unreachable)."""
    try:
        client = connect()
        version = client.version().get("Version", "?")
    except SandboxError as exc:
        yield Check(
            "docker: dockerd reachable",
            False,
            str(exc),
            "apt-get install docker.io and start dockerd (or set DOCKER_HOST)",
        )
        return
    yield Check("docker: dockerd reachable", True, f"Docker {version}")
    runtime = settings.docker_runtime
    if runtime:
        runtimes = client.info().get("Runtimes", {})
        yield Check(
            f"docker: runtime {runtime}",
            runtime in runtimes,
            f"known runtimes: {', '.join(sorted(runtimes))}",
            f"install {runtime} and register it in /etc/docker/daemon.json",
        )
    try:
        init = init_binary(settings.data_dir)
        yield Check("docker: container init", True, str(init))
    except SandboxError as exc:
        yield Check("docker: container init", False, str(exc), "apt-get install gcc libc6-dev")
    yield from image_checks(client, settings, registry)
