"""The service offers what its backend can run: with the Docker backend, a language that has
an image but no toolchain on the host is listed (with the image's version) and runs."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest

from execbox.languages import LanguageRegistry, load_registry
from execbox.sandbox.docker.backend import DockerBackend
from execbox.sandbox.docker.images.catalog import default_image
from execbox.sandbox.native import NativeBackend
from execbox.service.app import create_app
from execbox.settings import Settings
from tests.conftest import UID_BASE
from tests.sandbox.test_docker import client  # noqa: F401  (the module's dockerd fixture)
from tests.service.conftest import Server

pytestmark = pytest.mark.docker

IMAGE = "execbox-test/imgonly:1"
PYTHON = default_image("python")
TOOL = b"""#!/usr/bin/python3
import sys
if sys.argv[1] == "--version":
    print("imgtool 7.1.3")
else:
    print("imgtool ran", open(sys.argv[1]).read().strip())
"""
LANGUAGE = """id = "imgonly"
name = "Image-only language"
extensions = [".img"]
source_file = "main.img"
run = ["imgtool", "main.img"]
test_program = "OK"
[version]
command = ["imgtool", "--version"]
pattern = 'imgtool ([0-9.]+)'
"""


def _context() -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data, mode in (
            ("Dockerfile", f"FROM {PYTHON}\nCOPY imgtool /usr/bin/imgtool\n".encode(), 0o644),
            ("imgtool", TOOL, 0o755),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            tar.addfile(info, io.BytesIO(data))
    buffer.seek(0)
    return buffer


@pytest.fixture(scope="module")
def image(client: docker.DockerClient) -> Iterator[str]:  # noqa: F811
    try:
        client.images.get(PYTHON)
    except docker.errors.ImageNotFound:
        pytest.skip(f"{PYTHON} is missing: run `execbox images build python`")
    client.images.build(fileobj=_context(), custom_context=True, tag=IMAGE, rm=True)
    yield IMAGE
    client.images.remove(IMAGE, force=True)


@pytest.fixture
def registry(tmp_path: Path) -> LanguageRegistry:
    extra = tmp_path / "languages"
    extra.mkdir()
    (extra / "imgonly.toml").write_text(LANGUAGE)
    return load_registry([extra])


def test_a_language_only_in_an_image_is_offered_and_runs(
    image: str, registry: LanguageRegistry, tmp_path: Path
) -> None:
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"sqlite:///{tmp_path / 'execbox.db'}",
        backend="docker",
        docker_images={"imgonly": image},
        selftest=False,
    )
    imgonly = registry.get("imgonly")
    assert not imgonly.host_available()  # the host has no imgtool
    assert not NativeBackend(settings.model_copy(update={"sandbox_uid_base": UID_BASE})).offers(
        imgonly
    )
    server = Server(
        create_app(settings, backend=DockerBackend(settings, registry), registry=registry)
    )
    try:
        listed = {row["id"]: row for row in server.client.get("/api/languages").json()}
        assert listed["imgonly"]["version"] == "7.1.3"  # the image's, read by running it
        assert "python" in listed
        done = server.client.post(
            "/api/editor/run", json={"language": "imgonly", "code": "hello from the image"}
        ).json()
        assert done["status"] == "ok", done
        assert done["output"]["stdout"] == "imgtool ran hello from the image\n"
        assert done["version"] == "7.1.3"
    finally:
        server.stop()
