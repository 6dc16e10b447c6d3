"""Languages on the Docker backend, each in the image its TOML's packages make: a program
that reads input and prints a result, one that fails at run time (``runtime_error`` with its
exit code and stderr), and for compiled languages a syntax error (``compile_error`` with the
compiler's message), with the version read from the image's own toolchain.  The programs are
the native suite's (tests/languages/programs.py).

The images of ``LANGUAGES`` are ``scripts/test-services``'s (``execbox images build``):
outside CI a missing one skips, in CI it fails.  Every other language runs here too when its
image is built (``execbox images build`` with no argument builds them all), and skips when not.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry, load_registry
from execbox.results import Status
from execbox.sandbox.docker.backend import DockerBackend
from execbox.sandbox.docker.images.catalog import BASE_REF, image_for, is_current, spec_for
from execbox.settings import Settings
from tests.conftest import Runner, make_runner, make_settings
from tests.languages.programs import PROGRAMS
from tests.sandbox.docker_languages import LANGUAGES
from tests.sandbox.test_docker import _unavailable, client  # noqa: F401  (dockerd fixture)

pytestmark = pytest.mark.docker

ALL = sorted(PROGRAMS)
COMPILED = [lang for lang in ALL if PROGRAMS[lang].syntax_error is not None]


@pytest.fixture(scope="module")
def docker_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("docker-langs"), backend="docker")


@pytest.fixture(scope="module")
def backend(
    client: docker.DockerClient,  # noqa: F811
    docker_settings: Settings,
    registry: LanguageRegistry,
) -> DockerBackend:
    for language in LANGUAGES:
        image = image_for(docker_settings, language)
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            _unavailable(f"{image} is missing: run `execbox images build {language}`")
    return DockerBackend(docker_settings, registry)


@pytest.fixture
def run(
    backend: DockerBackend,
    docker_settings: Settings,
    registry: LanguageRegistry,
    leftovers: None,
) -> Iterator[Runner]:
    yield make_runner(Engine(docker_settings, registry, backend))


@pytest.fixture
def language(
    request: pytest.FixtureRequest, backend: DockerBackend, registry: LanguageRegistry
) -> str:
    """The parametrized language, skipped when it is not one CI builds and its image is not
    here."""
    name = str(request.param)
    if name not in LANGUAGES and not backend.offers(registry.get(name)):
        pytest.skip(
            f"{image_for(backend.settings, name)} is not built: execbox images build {name}"
        )
    return name


@pytest.fixture
def settings(docker_settings: Settings) -> Settings:
    """For the ``leftovers`` check: this module's data dir and backend."""
    return docker_settings


@pytest.mark.parametrize("language", ALL, indirect=True)
def test_reads_input_and_prints_a_result(
    run: Runner, backend: DockerBackend, registry: LanguageRegistry, language: str
) -> None:
    assert backend.offers(registry.get(language))
    result = run(language, PROGRAMS[language].doubles, stdin="21\n")
    assert result.status is Status.OK, result
    expected = "21" if language == "assembly" else "42"  # the assembly program echoes
    assert result.stdout.strip() == expected, result
    assert result.version, f"no version read from the {language} image"


@pytest.mark.parametrize("language", ALL, indirect=True)
def test_a_failing_program_is_a_runtime_error(run: Runner, language: str) -> None:
    result = run(language, PROGRAMS[language].fails)
    assert result.status is Status.RUNTIME_ERROR, result
    if language == "sqlite":  # an SQL error: sqlite3 -bail exits 1 and names the table
        assert result.exit_code == 1 and "no_such_table" in result.stderr
        return
    assert result.exit_code == 3, result
    assert "boom" in result.stderr, result


@pytest.mark.parametrize("language", COMPILED, indirect=True)
def test_a_syntax_error_is_a_compile_error(
    run: Runner, registry: LanguageRegistry, language: str
) -> None:
    syntax_error = PROGRAMS[language].syntax_error
    assert syntax_error is not None
    result = run(language, syntax_error)
    assert result.status is Status.COMPILE_ERROR, result
    # the compiler's own message, naming the program's file
    stem = registry.get(language).source_file.split(".")[0].lower()
    assert result.compile_output and stem in result.compile_output.lower(), result
    assert result.stdout == "" and result.exit_code != 0


@pytest.mark.parametrize("language", ALL, indirect=True)
def test_each_image_is_its_packages_on_the_shared_base(
    client: docker.DockerClient,  # noqa: F811
    backend: DockerBackend,
    registry: LanguageRegistry,
    language: str,
) -> None:
    """One layer of the language's own on the base layer every image shares; labelled with
    the recipe its TOML's packages make."""
    spec = spec_for(registry.get(language))
    base_layers = client.api.inspect_image(BASE_REF)["RootFS"]["Layers"]
    image = client.api.inspect_image(spec.ref)
    assert image["RootFS"]["Layers"][: len(base_layers)] == base_layers
    assert len(image["RootFS"]["Layers"]) == len(base_layers) + 1
    labels = image["Config"]["Labels"]
    assert is_current(labels, spec), labels
    assert labels["io.execbox.packages"].split() == list(spec.packages)


TWIN = """id = "{id}"
name = "{id}"
extensions = [".twin"]
source_file = "main.twin"
run = {run}
test_program = "print('OK')"
packages = []
[version]
command = {version}
pattern = '(\\d+\\.\\d+)'
"""


def test_languages_sharing_a_file_name_each_run_in_their_own_image(
    backend: DockerBackend, docker_settings: Settings, tmp_path: Path, leftovers: None
) -> None:
    """Perl and Prolog both run ``main.pl``: the image comes from the step's language, not
    from the file name.  Two such languages here, one per image: each finds its interpreter
    (which the other image lacks)."""
    extra = tmp_path / "languages"
    extra.mkdir()
    (extra / "twinlua.toml").write_text(
        TWIN.format(id="twinlua", run='["lua5.4", "main.twin"]', version='["lua5.4", "-v"]')
    )
    (extra / "twinruby.toml").write_text(
        TWIN.format(id="twinruby", run='["ruby", "main.twin"]', version='["ruby", "--version"]')
    )
    registry = load_registry([extra])
    settings = docker_settings.model_copy(
        update={
            "docker_images": {
                "twinlua": image_for(docker_settings, "lua"),
                "twinruby": image_for(docker_settings, "ruby"),
            }
        }
    )
    run = make_runner(Engine(settings, registry, DockerBackend(settings, registry)))
    lua = run("twinlua", "print(_VERSION)\n")
    ruby = run("twinruby", "print(RUBY_VERSION)\n")
    assert lua.status is Status.OK and lua.stdout.strip().startswith("Lua 5.4"), lua
    assert ruby.status is Status.OK and ruby.stdout.strip().startswith("3."), ruby


def test_images_list_and_an_up_to_date_build(
    client: docker.DockerClient,  # noqa: F811
    backend: DockerBackend,
    tmp_path: Path,
) -> None:
    """``execbox images list`` shows each image's state and packages; ``execbox images build``
    keeps an image already built from the same recipe (CI's test-services relies on it)."""
    execbox = str(Path(sys.executable).with_name("execbox"))
    env = {**os.environ, "EXECBOX_DATA_DIR": str(tmp_path)}
    listed = subprocess.run(
        [execbox, "images", "list", "lua", "ada"], env=env, capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    lua_line, ada_line = listed.stdout.splitlines()
    assert lua_line.split() == ["lua", "execbox/lua:bookworm", "current", "lua5.4"]
    assert ada_line.split()[:2] == ["ada", "execbox/ada:bookworm"]
    before = client.api.inspect_image("execbox/lua:bookworm")["Id"]
    built = subprocess.run(
        [execbox, "images", "build", "lua"], env=env, capture_output=True, text=True, timeout=120
    )
    assert built.returncode == 0, built.stderr
    assert "execbox/lua:bookworm: up to date" in built.stdout
    assert "built 0 image(s)" in built.stdout
    assert client.api.inspect_image("execbox/lua:bookworm")["Id"] == before
