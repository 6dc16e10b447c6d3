"""Build the Docker backend's images on a host with no registry.

Theory of operation: one recipe for every language, in two layers.

1. The base, once: ``debootstrap --variant=minbase`` makes a Debian root file
   system from the host's package mirror (cached in ``<data_dir>/images``),
   trimmed of documentation and package lists, streamed as a tar into the
   Engine API's image import (``docker import``) as ``execbox/base:bookworm``.
2. Per language: a container of the base image, on the host's network (only
   the Debian mirror is reached, by ``apt-get`` from Debian's own signed
   archive; no user code ever runs here), runs ``apt-get install`` of the
   language's TOML ``packages`` and a trim, each as an argv through the
   Engine API's exec; the stopped container is committed (``docker commit``)
   as ``execbox/<id>:bookworm``.  So every language image is the one shared
   base layer plus one layer of its own packages.  apt's package lists and
   downloaded archives are host directories bound into the build container
   (``<data_dir>/images/apt``), so they stay out of the layer and later builds
   reuse them (the JDK is fetched once for Java, Kotlin, Scala, Groovy, Clojure).

Nothing is pulled from a registry.  Needs root for debootstrap (the base only).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

import docker
import docker.errors

from execbox.errors import SandboxUnavailable
from execbox.sandbox.docker.images.catalog import (
    BASE_REF,
    LABEL,
    RECIPE_LABEL,
    RECIPE_VERSION,
    SUITE,
    ImageSpec,
    is_current,
)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_RECIPE = f"base-{SUITE}-{RECIPE_VERSION}"
API_TIMEOUT_S = 3600
"""How long one Engine API call of a build may take (an install streams for minutes)."""
APT_ENV = {"DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8", "PATH": PATH}
APT_CACHES = {"lists": "/var/lib/apt/lists", "archives": "/var/cache/apt/archives"}
"""apt's caches, bound from ``<work_dir>/apt/<name>`` into every build container."""
APT_INDEXES = ("/var/cache/apt/pkgcache.bin", "/var/cache/apt/srcpkgcache.bin")
"""apt's binary indexes of the package lists, rebuilt by any later apt run."""
TRIMMED = ("/usr/share/doc", "/usr/share/man")
"""What a sandbox never reads: docs and man pages (and, in the base, apt's caches)."""
REMOVED = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/root", "/home")
"""No password hashes, no home directories (HOME is the run directory)."""
POLICY_RC = b"#!/bin/sh\nexit 101\n"
"""``/usr/sbin/policy-rc.d`` while installing: no package starts a service."""

Progress = Callable[[str], None]


def host_mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line format), else deb.debian.org."""
    candidates = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for path in candidates:
        if path.suffix not in ("", ".list", ".sources") or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        for match in re.finditer(r"^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s*)?)(\S+)", text, re.M):
            uri = match.group(1)
            if (
                uri.startswith("http")
                and "security" not in uri
                and uri.rstrip("/").endswith("debian")
            ):
                return uri
    return DEFAULT_MIRROR


def install_steps(packages: Iterable[str]) -> list[list[str]]:
    """The argv of each step run in the build container, in order: the recipe's one layer."""
    wanted = list(packages)
    steps: list[list[str]] = []
    if wanted:
        steps += [
            ["apt-get", "-q", "update"],
            ["apt-get", "-q", "-y", "--no-install-recommends", "install", *wanted],
        ]
    steps += [
        ["find", *TRIMMED, "-mindepth", "1", "-delete"],
        ["rm", "-rf", "/usr/sbin/policy-rc.d", *APT_INDEXES, *REMOVED],
        ["mkdir", "-p", "-m", "755", "/box", "/.execbox"],
    ]
    return steps


class ImageBuilder:
    """Builds execbox images into the local dockerd, reporting each stage to ``progress``."""

    def __init__(self, work_dir: Path, progress: Progress, mirror: str | None = None) -> None:
        self.work_dir = work_dir
        self.progress = progress
        self.mirror = mirror or host_mirror()
        self._client: docker.DockerClient | None = None

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                client = docker.from_env(timeout=API_TIMEOUT_S)
                client.ping()
            except docker.errors.DockerException as exc:
                raise SandboxUnavailable(
                    f"cannot reach dockerd ({exc}); start it (dockerd &) or set DOCKER_HOST"
                ) from exc
            self._client = client
        return self._client

    def is_current(self, spec: ImageSpec) -> bool:
        """Whether ``spec``'s image is in dockerd, built from the same recipe."""
        return self.state(spec) == "current"

    def state(self, spec: ImageSpec) -> str:
        """``current``, ``out of date`` (built from another recipe) or ``missing``."""
        labels = self._labels(spec.ref)
        if labels is None:
            return "missing"
        return "current" if is_current(labels, spec) else "out of date"

    def build(self, spec: ImageSpec) -> float:
        """Build one language's image on the base; returns the seconds it took."""
        start = time.monotonic()
        self.ensure_base()
        client = self.client
        old = self._image_id(spec.ref)
        name = f"execbox-build-{spec.language}-{uuid.uuid4().hex[:8]}"
        binds = {}
        for cache, target in APT_CACHES.items():
            host = self.work_dir / "apt" / cache
            host.mkdir(parents=True, exist_ok=True, mode=0o755)
            binds[str(host)] = {"bind": target, "mode": "rw"}
        try:
            container = client.api.create_container(
                BASE_REF,
                command=["sleep", "infinity"],
                name=name,
                host_config=client.api.create_host_config(network_mode="host", binds=binds),
            )["Id"]
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"dockerd could not create {name}: {exc}") from exc
        try:
            client.api.start(container)
            client.api.put_archive(container, "/usr/sbin", _tar({"policy-rc.d": POLICY_RC}))
            if spec.packages:
                self.progress(f"{spec.ref}: installing {' '.join(spec.packages)}")
            for argv in install_steps(spec.packages):
                self._exec(container, argv, spec.ref)
            client.api.kill(container)
            self.progress(f"{spec.ref}: committing the layer")
            changes = [f"LABEL {key}={json.dumps(value)}" for key, value in spec.labels.items()]
            client.api.commit(
                container,
                repository=spec.repository,
                tag=spec.tag,
                changes=[*changes, 'CMD ["bash"]'],
                message=f"execbox: apt-get install {' '.join(spec.packages)}",
                pause=False,
            )
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"building {spec.ref} failed in dockerd: {exc}") from exc
        finally:
            try:
                client.api.remove_container(container, force=True)
            except docker.errors.DockerException as exc:
                self.progress(f"{spec.ref}: could not remove the build container {name}: {exc}")
        if old is not None and old != self._image_id(spec.ref):
            self._remove_image(old)
        took = time.monotonic() - start
        self.progress(f"{spec.ref}: built in {took:.0f} s")
        return took

    # --- the base layer ------------------------------------------------------------------

    def ensure_base(self) -> None:
        """Import the base image unless dockerd has it from this recipe."""
        labels = self._labels(BASE_REF)
        if labels is not None and labels.get(RECIPE_LABEL) == BASE_RECIPE:
            return
        old = self._image_id(BASE_REF)
        root = self._debootstrap()
        _trim_tree(root)
        self.progress(f"{BASE_REF}: importing into Docker")
        self._import(root)
        if old is not None:
            self._remove_image(old)

    def _debootstrap(self) -> Path:
        base = self.work_dir / f"base-{SUITE}"
        if (base / ".execbox-complete").exists():
            self.progress(f"{BASE_REF}: reusing {base}")
            return base
        if shutil.which("debootstrap") is None:
            raise SandboxUnavailable("debootstrap is missing: apt-get install debootstrap")
        _remove_tree(base)
        base.parent.mkdir(parents=True, exist_ok=True)
        self.progress(f"{BASE_REF}: debootstrap {SUITE} from {self.mirror} (a few minutes)")
        argv = ["debootstrap", "--variant=minbase", SUITE, str(base), self.mirror]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert proc.stdout is not None
        log = StageLog(BASE_REF, self.progress)
        log.feed(_chunks(proc.stdout))
        if proc.wait() != 0:
            raise SandboxUnavailable(f"debootstrap failed:\n{log.tail()}")
        (base / ".execbox-complete").touch()
        return base

    def _import(self, root: Path) -> None:
        tar = subprocess.Popen(
            ["tar", "-C", str(root), "--numeric-owner", "--exclude=./.execbox-complete", "-c", "."],
            stdout=subprocess.PIPE,
        )
        assert tar.stdout is not None
        stream = tar.stdout

        repository, tag = BASE_REF.rsplit(":", 1)
        changes = [
            f"ENV PATH={PATH}",
            "ENV LANG=C.UTF-8",
            f"LABEL {LABEL}=image",
            f"LABEL {RECIPE_LABEL}={BASE_RECIPE}",
            'CMD ["bash"]',
        ]
        try:
            self.client.api.import_image_from_data(
                _chunks(stream), repository=repository, tag=tag, changes=changes
            )
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"dockerd refused to import {BASE_REF}: {exc}") from exc
        finally:
            stream.close()
            if tar.wait() != 0:
                raise SandboxUnavailable(f"tar of {root} failed")

    # --- dockerd -------------------------------------------------------------------------

    def _exec(self, container: str, argv: list[str], what: str) -> None:
        """Run one step of the recipe in the build container, its output as progress."""
        api = self.client.api
        exec_id = api.exec_create(container, argv, environment=APT_ENV)["Id"]
        log = StageLog(what, self.progress)
        log.feed(api.exec_start(exec_id, stream=True))
        code = api.exec_inspect(exec_id).get("ExitCode")
        if code != 0:
            raise SandboxUnavailable(
                f"{what}: {' '.join(argv[:6])} failed (exit {code}):\n{log.tail()}"
            )

    def _labels(self, ref: str) -> dict[str, str] | None:
        try:
            found = self.client.api.inspect_image(ref)
        except docker.errors.ImageNotFound:
            return None
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"dockerd could not inspect {ref}: {exc}") from exc
        return dict(found.get("Config", {}).get("Labels") or {})

    def _image_id(self, ref: str) -> str | None:
        try:
            return str(self.client.api.inspect_image(ref)["Id"])
        except docker.errors.ImageNotFound:
            return None

    def _remove_image(self, image_id: str) -> None:
        """Drop the image a rebuild replaced (now untagged), unless something still uses it."""
        with contextlib.suppress(docker.errors.DockerException):
            self.client.api.remove_image(image_id)


class StageLog:
    """Condenses a long command's output into one progress line per stage (``Unpacking``,
    ``Setting up``...) rather than one per package, keeping a tail for errors."""

    def __init__(self, what: str, progress: Progress) -> None:
        self.what = what
        self.progress = progress
        self._tail: list[str] = []
        self._stage = ""
        self._count = 0

    def feed(self, chunks: Iterable[bytes]) -> None:
        pending = b""
        for chunk in chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                self.line(line.decode(errors="replace").rstrip())
        if pending:
            self.line(pending.decode(errors="replace").rstrip())
        self._flush()

    def line(self, line: str) -> None:
        self._tail = [*self._tail[-19:], line]
        words = line.split()
        if words and words[0] in ("I:", "W:", "E:"):
            words = words[1:]
        if words and words[0] == "Validating":
            return
        current = _stage_of(words[0]) if words else ""
        if current != self._stage:
            self._flush()
            self._stage = current
            self.progress(f"{self.what}: {line[:120]}")
        self._count += 1
        if self._count % 50 == 0:
            self.progress(f"{self.what}:   ... {self._count} lines of {self._stage}")

    def tail(self) -> str:
        return "\n".join(self._tail)

    def _flush(self) -> None:
        if self._count > 1:
            self.progress(f"{self.what}:   ... {self._count} lines of {self._stage}")
        self._count = 0


def _stage_of(word: str) -> str:
    """One stage for what apt prints per package (``Get:12``, ``Selecting``, ``Unpacking``)."""
    word = word.rstrip(":0123456789")
    return "Unpacking" if word in ("Selecting", "Preparing", "Unpacking") else word


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    """What a pipe gives, as it comes (not waiting to fill a buffer)."""
    while chunk := os.read(stream.fileno(), 1 << 16):
        yield chunk


def _tar(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _trim_tree(root: Path) -> None:
    """The base's trim: no package lists, archives, docs or man pages; ``/box`` and
    ``/.execbox`` for the run directory and the init.  (Shadow files stay until a
    language's layer: package scripts may add system users.)"""
    for rel in (*APT_CACHES.values(), "/var/cache/apt", *TRIMMED):
        target = root / rel.lstrip("/")
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    resolv = root / "etc" / "resolv.conf"
    if resolv.is_file() and not resolv.is_symlink():
        resolv.write_text("")
    for rel in ("box", ".execbox"):
        (root / rel).mkdir(exist_ok=True, mode=0o755)


def _remove_tree(path: Path) -> None:
    """Remove a build tree, unmounting first whatever a crashed build left mounted in it."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, reverse=True):
        subprocess.run(["umount", "-l", point], check=False, capture_output=True)
    shutil.rmtree(path, ignore_errors=False)
    if os.path.exists(path):
        raise SandboxUnavailable(f"cannot remove {path}")
