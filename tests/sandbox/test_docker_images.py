"""``execbox images``: every language has an image recipe derived from its TOML, and the
command line refuses what it cannot build with a clear message (no dockerd needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from execbox.errors import UnknownLanguage
from execbox.languages import LanguageRegistry
from execbox.sandbox.docker.images.build import install_steps
from execbox.sandbox.docker.images.catalog import (
    default_image,
    image_for,
    is_current,
    spec_for,
    specs_for,
)
from execbox.settings import Settings

EXECBOX = str(Path(sys.executable).with_name("execbox"))


def test_every_language_has_an_image_recipe_from_its_packages(
    registry: LanguageRegistry,
) -> None:
    specs = specs_for(registry)
    assert [spec.language for spec in specs] == registry.ids()
    assert len({spec.ref for spec in specs}) == len(specs)
    for spec in specs:
        language = registry.get(spec.language)
        assert spec.packages == tuple(language.packages) and spec.packages
        assert spec.ref == f"execbox/{language.id}:bookworm"
        install = install_steps(spec.packages)[1]
        assert install[:5] == ["apt-get", "-q", "-y", "--no-install-recommends", "install"]
        assert install[5:] == list(language.packages)


def test_aliases_name_the_language_once(registry: LanguageRegistry) -> None:
    assert [spec.language for spec in specs_for(registry, ["py", "python", "c"])] == [
        "python",
        "c",
    ]


def test_unknown_language_lists_the_known_ones(registry: LanguageRegistry) -> None:
    with pytest.raises(UnknownLanguage) as caught:
        specs_for(registry, ["python", "nosuchlang"])
    assert "nosuchlang" in str(caught.value) and "python" in str(caught.value)


def test_a_changed_package_list_is_an_out_of_date_image(registry: LanguageRegistry) -> None:
    spec = spec_for(registry.get("lua"))
    other = spec_for(registry.get("lua").model_copy(update={"packages": ["lua5.3"]}))
    assert is_current(spec.labels, spec)
    assert not is_current(other.labels, spec) and not is_current({}, spec)


def test_settings_choose_another_image(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, docker_images={"python": "mine/python:3.13"})
    assert image_for(settings, "python") == "mine/python:3.13"
    assert image_for(settings, "ruby") == "execbox/ruby:bookworm"
    # Docker allows no '+' in a name, nor a trailing '_'
    assert default_image("c++") == "execbox/c-plus-plus:bookworm"
    assert default_image("odd_").startswith("execbox/lang-")


def test_images_build_of_an_unknown_language_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "EXECBOX_DATA_DIR": str(tmp_path)}
    done = subprocess.run(
        [EXECBOX, "images", "build", "lua", "nosuchlang"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done
    assert "Unknown language 'nosuchlang'" in done.stderr, done.stderr
    for known in ("python", "lua", "zsh"):
        assert known in done.stderr
    assert "built" not in done.stdout  # refused before building anything
