"""Which Docker image runs which language, derived from the language's own file.

Every language gets one image, ``execbox/<id>:bookworm``, made by one recipe
(:mod:`execbox.sandbox.docker.images.build`): execbox's base image (a Debian
bookworm minbase, ``execbox/base:bookworm``) with the Debian ``packages`` of the
language's TOML installed as one layer on top.  Nothing here lists languages or
packages: adding a language file adds its image.  ``Settings.docker_images``
may name another image for a language (an operator's own, or one built from
``docker/Dockerfile`` on a host that can pull).

An image records what it was built from in its labels: the language, the
packages and a digest of the recipe (:attr:`ImageSpec.recipe`), so a language
file whose packages changed shows its image as out of date (``execbox doctor``,
``scripts/test-services`` rebuilds it).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from execbox.languages import Language, LanguageRegistry
from execbox.settings import Settings

LABEL = "io.execbox"
"""Every image and container execbox makes carries this label."""
RECIPE_LABEL = f"{LABEL}.recipe"
LANGUAGES_LABEL = f"{LABEL}.languages"
PACKAGES_LABEL = f"{LABEL}.packages"

SUITE = "bookworm"
"""The Debian release every image's packages come from (also the images' tag)."""
REPOSITORY = "execbox"
BASE_REF = f"{REPOSITORY}/base:{SUITE}"
"""The shared bottom layer: a Debian minbase every language image is built on."""
RECIPE_VERSION = 1
"""Part of every recipe digest: raise it when the build steps change, to rebuild them all."""


@dataclass(frozen=True)
class ImageSpec:
    """One language's image: its reference and the Debian packages installed on the base."""

    ref: str
    language: str
    packages: tuple[str, ...]

    @property
    def repository(self) -> str:
        return self.ref.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]

    @property
    def recipe(self) -> str:
        """A digest of everything the image is built from (suite, packages, build steps)."""
        text = json.dumps([RECIPE_VERSION, SUITE, BASE_REF, sorted(self.packages)])
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def labels(self) -> dict[str, str]:
        return {
            LABEL: "image",
            LANGUAGES_LABEL: self.language,
            PACKAGES_LABEL: " ".join(self.packages),
            RECIPE_LABEL: self.recipe,
        }


_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
"""A path component of a Docker image reference."""


def default_image(language_id: str) -> str:
    """``execbox/<id>:bookworm``: a ``+`` becomes ``-plus``; an id Docker still refuses
    (one ending in ``_``, say) becomes ``lang-<digest>``."""
    name = language_id.replace("+", "-plus")
    if not _COMPONENT.match(name):
        name = "lang-" + hashlib.sha256(language_id.encode()).hexdigest()[:12]
    return f"{REPOSITORY}/{name}:{SUITE}"


def spec_for(language: Language) -> ImageSpec:
    """The image recipe of ``language``: its default reference and its TOML's packages."""
    return ImageSpec(default_image(language.id), language.id, tuple(language.packages))


def image_for(settings: Settings, language_id: str) -> str:
    """The image that runs ``language_id``: the setting's choice, else execbox's own."""
    return settings.docker_images.get(language_id) or default_image(language_id)


def specs_for(registry: LanguageRegistry, names: Iterable[str] = ()) -> list[ImageSpec]:
    """The images to build for these language ids or aliases (every language when none),
    each once, in order; :class:`UnknownLanguage` (listing the known ids) for an unknown one."""
    wanted = list(names)
    languages = [registry.get(name) for name in wanted] if wanted else registry.all()
    specs: list[ImageSpec] = []
    for language in languages:
        spec = spec_for(language)
        if spec not in specs:
            specs.append(spec)
    return specs


def is_current(labels: dict[str, str] | None, spec: ImageSpec) -> bool:
    """Whether an image with these labels was built from ``spec``'s recipe."""
    return (labels or {}).get(RECIPE_LABEL) == spec.recipe
