"""What ``execbox doctor`` says about each language's Docker image."""

from __future__ import annotations

from collections.abc import Iterator

import docker
import docker.errors

from execbox.languages import LanguageRegistry
from execbox.sandbox.base import Check
from execbox.sandbox.docker.images.catalog import image_for, is_current, spec_for
from execbox.settings import Settings


def image_checks(
    client: docker.DockerClient, settings: Settings, registry: LanguageRegistry
) -> Iterator[Check]:
    """One check per language.  A language without a built image is not offered (not a
    broken backend); the backend fails only when it can run no language at all."""
    offered = 0
    for language in registry.all():
        image = image_for(settings, language.id)
        spec = spec_for(language)
        name = f"docker: image for {language.id}"
        try:
            labels = client.api.inspect_image(image)["Config"].get("Labels") or {}
        except docker.errors.ImageNotFound:
            yield Check(
                name,
                True,
                f"not offered: {image} is not built",
                f"execbox images build {language.id}",
            )
            continue
        except docker.errors.DockerException as exc:
            yield Check(name, False, str(exc))
            continue
        offered += 1
        if image == spec.ref and not is_current(labels, spec):
            yield Check(
                name,
                True,
                f"{image} was built from other packages than {' '.join(spec.packages)}",
                f"execbox images build {language.id}",
            )
        else:
            yield Check(name, True, image)
    if not offered:
        yield Check(
            "docker: images", False, "no language has a built image", "execbox images build"
        )
