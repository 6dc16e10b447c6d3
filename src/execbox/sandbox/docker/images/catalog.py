"""Which Docker image runs which language, and what goes into each image.

The Docker backend runs a language's steps in the image ``Settings.docker_images``
names for it, or in the default below.  The defaults are execbox's own images,
built on the host without a registry by ``execbox images build`` (Debian
bookworm packages), or from the Dockerfiles in the repository's ``docker/``
folder on a host that can pull the design's upstream images:

=========== ===================== ================================ ==========================
language    default image         offline build (Debian bookworm)  Dockerfile base (pull)
=========== ===================== ================================ ==========================
python      execbox/python:3.11   python3 (3.11)                   python:3.11-slim-bookworm
javascript  execbox/node:18       nodejs (18)                      node:18-bookworm-slim
c, cpp      execbox/gcc:12        gcc, g++, libc6-dev (12)         gcc:12-bookworm
java        execbox/openjdk:17    openjdk-17-jdk-headless          eclipse-temurin:17-jdk
bash        execbox/bash:5.2      bash (5.2, in the base)          debian:bookworm-slim
=========== ===================== ================================ ==========================
"""

from __future__ import annotations

from dataclasses import dataclass

from execbox.settings import Settings

LABEL = "io.execbox"
"""Every image and container execbox makes carries this label."""


@dataclass(frozen=True)
class ImageSpec:
    """One image execbox can build: its reference, the languages it serves, its packages."""

    ref: str
    languages: tuple[str, ...]
    packages: tuple[str, ...]

    @property
    def repository(self) -> str:
        return self.ref.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.ref.rsplit(":", 1)[1]


IMAGES: tuple[ImageSpec, ...] = (
    ImageSpec("execbox/python:3.11", ("python",), ("python3",)),
    ImageSpec("execbox/node:18", ("javascript",), ("nodejs",)),
    ImageSpec("execbox/gcc:12", ("c", "cpp"), ("gcc", "g++", "libc6-dev")),
    ImageSpec("execbox/openjdk:17", ("java",), ("openjdk-17-jdk-headless",)),
    ImageSpec("execbox/bash:5.2", ("bash",), ()),
)

DEFAULT_IMAGES: dict[str, str] = {lang: spec.ref for spec in IMAGES for lang in spec.languages}


def image_for(settings: Settings, language_id: str) -> str | None:
    """The image that runs ``language_id``: the setting's choice, else execbox's default."""
    return settings.docker_images.get(language_id) or DEFAULT_IMAGES.get(language_id)


def specs_for(languages: list[str]) -> list[ImageSpec]:
    """The images to build for these language ids (all when empty), each once, in order."""
    if not languages:
        return list(IMAGES)
    wanted: list[ImageSpec] = []
    for language in languages:
        matches = [spec for spec in IMAGES if language in spec.languages]
        if not matches:
            known = ", ".join(sorted(DEFAULT_IMAGES))
            raise ValueError(f"no image for language {language!r}; known: {known}")
        if matches[0] not in wanted:
            wanted.append(matches[0])
    return wanted
