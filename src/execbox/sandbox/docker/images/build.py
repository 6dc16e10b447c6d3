"""Build the Docker backend's images on a host with no registry.

Theory of operation: ``debootstrap --variant=minbase`` makes one Debian root
file system from the host's package mirror (cached in ``<data_dir>/images``);
each image is a copy of it with the language's Debian packages installed by
``apt-get`` in a chroot, streamed as a tar into the Engine API's image import
(the ``docker import`` call, through the SDK).  Hosts that can pull use the
Dockerfiles in ``docker/`` instead.  Needs root (debootstrap, chroot, mounting
``/proc`` for the JDK's install scripts).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import docker.errors

from execbox.errors import SandboxUnavailable
from execbox.sandbox.docker.images.catalog import LABEL, ImageSpec

SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

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


class ImageBuilder:
    """Builds execbox images into the local dockerd, reporting each stage to ``progress``."""

    def __init__(self, work_dir: Path, progress: Progress, mirror: str | None = None) -> None:
        self.work_dir = work_dir
        self.progress = progress
        self.mirror = mirror or host_mirror()

    def build(self, spec: ImageSpec) -> float:
        """Build one image; returns the seconds it took."""
        start = time.monotonic()
        client = self._client()
        base = self._base()
        root = self.work_dir / "build" / spec.repository.replace("/", "-")
        _remove_tree(root)
        root.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.progress(f"{spec.ref}: copying the base system")
            _run(["cp", "-a", "--reflink=auto", str(base), str(root)])
            if spec.packages:
                self._install(root, spec)
            _trim(root)
            self.progress(f"{spec.ref}: importing into Docker")
            self._import(client, root, spec)
        finally:
            _remove_tree(root)
        took = time.monotonic() - start
        self.progress(f"{spec.ref}: built in {took:.0f} s")
        return took

    def _client(self) -> docker.DockerClient:
        try:
            client = docker.from_env()
            client.ping()
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(
                f"cannot reach dockerd ({exc}); start it (dockerd &) or set DOCKER_HOST"
            ) from exc
        return client

    def _base(self) -> Path:
        base = self.work_dir / f"base-{SUITE}"
        if (base / ".execbox-complete").exists():
            self.progress(f"base: reusing {base}")
            return base
        if shutil.which("debootstrap") is None:
            raise SandboxUnavailable("debootstrap is missing: apt-get install debootstrap")
        _remove_tree(base)
        base.parent.mkdir(parents=True, exist_ok=True)
        self.progress(f"base: debootstrap {SUITE} from {self.mirror} (a few minutes)")
        argv = ["debootstrap", "--variant=minbase", SUITE, str(base), self.mirror]
        self._stream(argv, "base")
        (base / ".execbox-complete").touch()
        return base

    def _install(self, root: Path, spec: ImageSpec) -> None:
        proc = root / "proc"
        shutil.copyfile("/etc/resolv.conf", root / "etc" / "resolv.conf")
        policy = root / "usr" / "sbin" / "policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        _run(["mount", "-t", "proc", "proc", str(proc)])
        try:
            env = {"PATH": PATH, "DEBIAN_FRONTEND": "noninteractive", "LANG": "C.UTF-8"}
            self.progress(f"{spec.ref}: apt-get update")
            self._stream(["chroot", str(root), "apt-get", "-q", "update"], spec.ref, env)
            self.progress(f"{spec.ref}: installing {' '.join(spec.packages)}")
            install = ["apt-get", "-q", "-y", "--no-install-recommends", "install"]
            self._stream(["chroot", str(root), *install, *spec.packages], spec.ref, env)
            _run(["chroot", str(root), "apt-get", "clean"], env)
        finally:
            _run(["umount", "-l", str(proc)])
            policy.unlink(missing_ok=True)
            (root / "etc" / "resolv.conf").write_text("")

    def _import(self, client: docker.DockerClient, root: Path, spec: ImageSpec) -> None:
        tar = subprocess.Popen(
            ["tar", "-C", str(root), "--numeric-owner", "--exclude=./.execbox-complete", "-c", "."],
            stdout=subprocess.PIPE,
        )
        assert tar.stdout is not None
        stream = tar.stdout

        def chunks() -> Iterator[bytes]:
            while chunk := stream.read(1 << 20):
                yield chunk

        changes = [
            f"ENV PATH={PATH}",
            "ENV LANG=C.UTF-8",
            f"LABEL {LABEL}=image",
            f"LABEL {LABEL}.languages={','.join(spec.languages)}",
            'CMD ["bash"]',
        ]
        try:
            client.api.import_image_from_data(
                chunks(), repository=spec.repository, tag=spec.tag, changes=changes
            )
        except docker.errors.DockerException as exc:
            raise SandboxUnavailable(f"dockerd refused to import {spec.ref}: {exc}") from exc
        finally:
            stream.close()
            if tar.wait() != 0:
                raise SandboxUnavailable(f"tar of {root} failed")

    def _stream(self, argv: list[str], what: str, env: dict[str, str] | None = None) -> None:
        """Run a long command, showing one progress line per stage rather than per package."""
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
        )
        assert proc.stdout is not None
        tail: list[str] = []
        stage, count = "", 0
        for line in proc.stdout:
            line = line.rstrip()
            tail = [*tail[-19:], line]
            words = line.split()
            if words and words[0] in ("I:", "W:", "E:"):
                words = words[1:]
            if words and words[0] == "Validating":
                continue
            current = words[0] if words else ""
            if current != stage:
                if count > 1:
                    self.progress(f"{what}:   ... {count} x {stage}")
                stage, count = current, 0
                self.progress(f"{what}: {line[:120]}")
            count += 1
        if proc.wait() != 0:
            detail = "\n".join(tail)
            raise SandboxUnavailable(f"{' '.join(argv[:3])} failed:\n{detail}")


def _run(argv: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SandboxUnavailable(f"{' '.join(argv)} failed: {done.stderr.strip()}")


def _trim(root: Path) -> None:
    """Drop what a sandbox never reads: package lists, docs, man pages, password hashes."""
    for rel in ("var/lib/apt/lists", "usr/share/doc", "usr/share/man", "var/cache/apt"):
        target = root / rel
        if target.is_dir():
            for child in target.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()
    for rel in ("etc/shadow", "etc/shadow-", "etc/gshadow", "etc/gshadow-"):
        (root / rel).unlink(missing_ok=True)
    for rel in ("root", "home"):  # no home directories: HOME is the run directory
        shutil.rmtree(root / rel, ignore_errors=True)
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
