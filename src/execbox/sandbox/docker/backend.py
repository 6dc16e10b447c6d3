"""The Docker sandbox backend: one fresh container per step, over the Engine API.

Theory of operation.  A workspace is a size-capped tmpfs on the host
(:mod:`execbox.sandbox.docker.workspace`), bound into each step's container at
``/box``.  A step is one container, created with the design's flags and more:
memory with swap equal to it, a CPU quota, no network (``NetworkDisabled``,
which still gives an empty network namespace and starts about twice as fast as
``network_mode="none"``), a read-only root, size-capped ``/tmp`` and
``/dev/shm``, a PIDs limit, no capabilities but the two the init needs for its
first instructions, ``no-new-privileges``, execbox's seccomp profile, ``core
0`` and ``nofile`` limits, socket-buffer accounting on cgroup v1 (below), labels,
and the configured OCI runtime.  PID 1 is our static init (``docker/init.c``),
bind-mounted read-only: before the program exists it becomes the run's lent
host uid (from the same pool as the native backend's, so per-user kernel limits
such as inotify instances and POSIX message queue bytes are per run) with no
capabilities left, runs the program as that uid with pipes of its own for
stdout and stderr, enforces the wall-clock limit, kills every leftover process,
and reports the raw wait status, CPU time, peak memory and OOM kills read from
the container's own cgroup before Docker removes it.  Only the init writes to
the container's stdout: the program's output in frames, then the report as the
last frame, so nothing the program can reach (a full ``/box`` say) stands
between the host and the report.  The host attaches before starting, feeds
stdin, reads the frames with the output cap enforced while reading (passing it
sends SIGTERM to the init, which kills everything), and removes the container
whatever happened.  A host-side deadline a few seconds past the limit kills the
container should the init itself not answer.

Socket buffers are charged to the memory limit on cgroup v1 too (the host sets
``memory.kmem.tcp``: :mod:`execbox.sandbox.docker.sockets`).  The container itself is made
by :mod:`execbox.sandbox.docker.container`.  Every container is
labelled with its owner, and constructing the backend removes those whose owner
process is gone (:mod:`execbox.sandbox.docker.orphans`).
"""

from __future__ import annotations

import contextlib
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import docker
import docker.errors

from execbox.errors import SandboxError, SandboxUnavailable, UnknownLanguage
from execbox.languages import Language, LanguageRegistry, load_registry
from execbox.limits import MIB, Limits, resolve_limits
from execbox.sandbox.base import Check, StepOutcome, StepSpec, Workspace
from execbox.sandbox.boundary import sandbox_boundary
from execbox.sandbox.docker.checks import backend_checks
from execbox.sandbox.docker.container import PATH, create_container
from execbox.sandbox.docker.images.catalog import image_for
from execbox.sandbox.docker.io import feed_stdin, raw_socket, read_streams
from execbox.sandbox.docker.orphans import owner_id, remove_orphans
from execbox.sandbox.docker.report import step_outcome
from execbox.sandbox.docker.sockets import charge_socket_buffers
from execbox.sandbox.docker.workspace import HostRun, create_run_dir, remove_stale_run_dirs
from execbox.sandbox.uids import UidPool
from execbox.settings import Settings

log = logging.getLogger(__name__)

GRACE_S = 3.0
"""How long past the limit the host waits for the init before killing the container itself."""
GO = b"\x01"
"""The byte ahead of stdin that tells the init the container is set up: start the program."""


class DockerBackend:
    """Runs each step in a fresh container through the Docker Engine API."""

    name = "docker"

    def __init__(self, settings: Settings, registry: LanguageRegistry | None = None) -> None:
        self.settings = settings
        self.registry = registry or load_registry()
        self.owner = owner_id()
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        self._paths: dict[str, str] = {}
        self._versions: dict[str, str | None] = {}
        self._cgroup_v1: bool | None = None
        self.uids = UidPool(settings.sandbox_uid_base, settings.sandbox_uid_count)
        try:
            self._docker()
        except SandboxUnavailable as exc:
            log.warning("docker backend not ready yet: %s", exc)

    # --- the protocol -------------------------------------------------------------------

    @contextmanager
    @sandbox_boundary("setting up or removing the run's workspace")
    def workspace(
        self, run_id: str, files: Mapping[str, bytes], limits: Limits
    ) -> Iterator[Workspace]:
        image = self._image_for_files(files)  # a step naming its language overrides it
        runs_dir = self.settings.runs_dir
        size = max(limits.workdir_bytes, sum(len(data) for data in files.values()) + MIB)
        lease = self.uids.acquire()
        try:
            rundir = create_run_dir(runs_dir, run_id, size, files, lease.uid)
            try:
                yield Workspace(run_id, limits, HostRun(rundir=rundir, image=image, uid=lease.uid))
            finally:
                rundir.remove()
        finally:
            lease.release()  # every container of the run is gone: run_step removed each

    @sandbox_boundary("running a step in a container")
    def run_step(self, workspace: Workspace, step: StepSpec) -> StepOutcome:
        run = workspace.handle
        if not isinstance(run, HostRun):
            raise SandboxError("not a docker workspace")
        client = self._docker()
        run.steps += 1
        image = image_for(self.settings, step.language) if step.language else run.image
        if image is None:
            raise SandboxError("no Docker image: the step names no language and no file did")
        path = self._image_path(client, image)
        container = create_container(
            client, self.settings, step, image, path=path, run=run, run_id=workspace.run_id,
            owner=self.owner,
        )  # fmt: skip
        try:
            return self._run(client, container, image, step)
        finally:
            self._remove(client, container)

    def offers(self, language: Language) -> bool:
        """A language is offered when its image is present in dockerd (whether or not
        the host has the toolchain): ``execbox images build <id>`` makes it."""
        image = image_for(self.settings, language.id)
        try:
            self._docker().api.inspect_image(image)
        except (SandboxError, docker.errors.DockerException):
            return False
        return True

    def language_version(self, language: Language) -> str | None:
        """The version inside the language's image, read once by running its version
        command in a sandboxed container like any step."""
        if language.id not in self._versions:
            limits = resolve_limits(self.settings)
            step = StepSpec(
                argv=list(language.version.command),
                limits=limits,
                kind="version",
                language=language.id,
            )
            with self.workspace(
                f"version-{uuid.uuid4().hex}", {language.source_file: b""}, limits
            ) as workspace:
                outcome = self.run_step(workspace, step)
            text = (outcome.stdout + outcome.stderr).decode(errors="replace")
            match = re.search(language.version.pattern, text)
            version = match.group(1) if match else None
            self._versions[language.id] = version
        return self._versions[language.id]

    def checks(self) -> Iterator[Check]:
        yield from backend_checks(self._docker, self.settings, self.registry)

    # --- containers -----------------------------------------------------------------------

    def _run(
        self, client: docker.DockerClient, container: str, image: str, step: StepSpec
    ) -> StepOutcome:
        limits = step.limits
        try:
            attached = client.api.attach_socket(
                container, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
            )
            sock = raw_socket(attached)
            client.api.start(container)
        except docker.errors.DockerException as exc:
            raise SandboxError(f"dockerd could not start the container: {exc}") from exc
        started = time.monotonic()
        deadline = started + limits.time_s + GRACE_S
        try:
            if self._is_cgroup_v1(client):
                self._charge_sockets(client, container, limits)
        except BaseException:
            sock.close()
            raise

        def stop() -> None:
            # Already gone is fine: the init finished on its own.
            with contextlib.suppress(docker.errors.DockerException):
                client.api.kill(container, signal="SIGTERM")

        live = step.live
        try:
            if live is None:
                feed_stdin(sock, GO + step.stdin)
                streams = read_streams(sock, limits.output_bytes, deadline, stop)
            else:
                # A stop asks the init to end everything, as the output cap does: the init
                # still reports the step's CPU time and memory.
                pump: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
                if live.takes_input:
                    sock.sendall(GO)  # before the pump writes the input after it
                    pump = live.pump_input(sock.fileno(), lambda: sock.shutdown(socket.SHUT_WR))
                else:
                    feed_stdin(sock, GO + step.stdin)
                with live.stoppable(stop), pump:
                    streams = read_streams(
                        sock, limits.output_bytes, deadline, stop, on_output=live.output
                    )
        finally:
            close = getattr(attached, "close", None)
            if callable(close):
                close()
            sock.close()
        backstop = streams.deadline_passed
        if backstop:
            self._kill(client, container)
        # Removing a container that is still exiting costs more than waiting for it.
        try:
            client.api.wait(container, timeout=max(1.0, deadline - time.monotonic() + GRACE_S))
        except Exception as exc:  # requests' timeouts are not DockerExceptions
            raise SandboxError(f"dockerd did not report the container's end: {exc}") from exc
        if streams.malformed is not None:
            raise SandboxError(
                f"the container init's output broke its framing: {streams.malformed}"
            )
        # The init's report carries the OOM kills, from the same cgroup counter Docker's
        # OOMKilled comes from; Docker's own view is asked for only when there is no report.
        line = None if backstop else streams.report
        state: dict[str, Any] = {}
        if line is None:
            try:
                state = client.api.inspect_container(container)["State"]
            except docker.errors.DockerException as exc:
                raise SandboxError(f"dockerd could not inspect the container: {exc}") from exc
        outcome = step_outcome(streams, state, line, limits, backstop, time.monotonic() - started)
        if outcome is None:
            raise SandboxError(
                f"cannot start {step.argv[0]!r} in image {image}: "
                "is the image built for this language?"
            )
        return outcome

    def _kill(self, client: docker.DockerClient, container: str) -> None:
        try:
            client.api.kill(container)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if exc.status_code != 409:  # 409: not running any more
                raise SandboxError(f"dockerd could not kill the container: {exc}") from exc

    def _remove(self, client: docker.DockerClient, container: str) -> None:
        try:
            client.api.remove_container(container, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.DockerException as exc:
            raise SandboxError(
                f"dockerd could not remove container {container[:12]}: {exc}"
            ) from exc

    # --- set-up ------------------------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        with self._lock:
            if self._client is not None:
                return self._client
            try:
                client = docker.from_env(max_pool_size=max(10, self.settings.workers * 2))
                client.ping()
            except docker.errors.DockerException as exc:
                raise SandboxUnavailable(
                    f"cannot reach dockerd ({exc}): install docker.io and start dockerd, "
                    "or set DOCKER_HOST"
                ) from exc
            remove_orphans(client, self.owner)
            for path in remove_stale_run_dirs(self.settings.runs_dir):
                log.info("removed the orphaned run directory %s", path)
            self._client = client
            return client

    def _charge_sockets(self, client: docker.DockerClient, container: str, limits: Limits) -> None:
        """Socket buffers charged to the container's memory cgroup (cgroup v1, see
        :mod:`execbox.sandbox.docker.sockets`), before the init starts the program."""
        try:
            pid = int(client.api.inspect_container(container)["State"]["Pid"])
        except docker.errors.DockerException as exc:
            raise SandboxError(f"dockerd could not inspect the container: {exc}") from exc
        if pid > 0:
            charge_socket_buffers(pid, limits.memory_bytes)

    def _is_cgroup_v1(self, client: docker.DockerClient) -> bool:
        """Whether dockerd puts containers in cgroup v1 hierarchies (asked once)."""
        if self._cgroup_v1 is None:
            try:
                version = client.info().get("CgroupVersion", "1")
            except docker.errors.DockerException as exc:
                raise SandboxError(f"dockerd could not describe itself: {exc}") from exc
            self._cgroup_v1 = str(version) == "1"
        return self._cgroup_v1

    def _image_path(self, client: docker.DockerClient, image: str) -> str:
        """The image's own PATH (a JDK image keeps java under /opt), else the usual one."""
        if image not in self._paths:
            try:
                env = client.api.inspect_image(image)["Config"].get("Env") or []
            except docker.errors.ImageNotFound as exc:
                raise SandboxUnavailable(
                    f"image {image} is missing: run `execbox images build`"
                ) from exc
            except docker.errors.DockerException as exc:
                raise SandboxError(f"dockerd could not inspect image {image}: {exc}") from exc
            found = [item[5:] for item in env if item.startswith("PATH=")]
            self._paths[image] = found[0] if found else PATH
        return self._paths[image]

    def _image_for_files(self, files: Mapping[str, bytes]) -> str | None:
        """The image of the language whose source file this run holds (for a step that
        names no language); None when no language's file is among them."""
        for name in files:
            for language in self.registry.all():
                if name == language.source_file:
                    return image_for(self.settings, language.id)
        for name in files:
            try:
                language = self.registry.for_filename(name)
            except UnknownLanguage:
                continue
            return image_for(self.settings, language.id)
        return None
