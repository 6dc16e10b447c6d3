"""A step's container as dockerd is asked to create it: the limits, mounts and security
options every step gets (see :mod:`execbox.sandbox.docker.backend` for why each), the init
as PID 1 with the run's uid, and the labels that name its owner and run."""

from __future__ import annotations

from typing import Any

import docker
import docker.errors
from docker.types import Ulimit

from execbox.errors import SandboxError, SandboxUnavailable
from execbox.sandbox.base import StepSpec
from execbox.sandbox.docker.images.catalog import LABEL
from execbox.sandbox.docker.orphans import OWNER_LABEL
from execbox.sandbox.docker.profile import masked_paths, seccomp_profile
from execbox.sandbox.docker.workspace import HostRun, init_binary
from execbox.sandbox.policy import cpu_rlimit, file_size_rlimit, pids_max
from execbox.settings import Settings

PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The PATH of an image that sets none."""
WORKDIR = "/box"
INIT_PATH = "/.execbox/.execbox-init"  # comm ".execbox-init", as the native init


def create_container(
    client: docker.DockerClient,
    settings: Settings,
    step: StepSpec,
    image: str,
    *,
    path: str,
    run: HostRun,
    run_id: str,
    owner: str,
) -> str:
    """Create (not start) ``step``'s container from ``image`` for ``run``; its id.  ``path``
    is the image's own PATH."""
    limits = step.limits
    init = init_binary(settings.data_dir)
    cpu_soft, cpu_hard = cpu_rlimit(limits)
    host_config = client.api.create_host_config(
        binds={
            str(run.work): {"bind": WORKDIR, "mode": "rw"},
            str(init): {"bind": INIT_PATH, "mode": "ro"},
        },
        mem_limit=limits.memory_bytes,
        memswap_limit=limits.memory_bytes,
        nano_cpus=int(limits.cpu_cores * 1e9),
        pids_limit=pids_max(limits),
        read_only=True,
        tmpfs={
            "/tmp": f"rw,nosuid,nodev,size={limits.tmp_bytes},mode=1777",
            # Docker's own /dev/mqueue is writable; mq_open needs no mount at all.
            "/dev/mqueue": "ro,nosuid,nodev,noexec,size=4k",
        },
        shm_size=limits.tmp_bytes,
        ipc_mode="private",
        cap_drop=["ALL"],
        cap_add=["SETUID", "SETGID"],  # the init's, dropped before the program exists
        security_opt=["no-new-privileges:true", f"seccomp={seccomp_profile()}"],
        ulimits=[
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
            Ulimit(name="cpu", soft=cpu_soft, hard=cpu_hard),
            Ulimit(name="fsize", soft=file_size_rlimit(limits), hard=file_size_rlimit(limits)),
        ],
        runtime=settings.docker_runtime,
    )
    host_config["MaskedPaths"] = masked_paths()
    host_config["CgroupnsMode"] = "private"  # v1 hosts default to the host's: paths shown
    command = [
        INIT_PATH,
        str(max(1, round(limits.time_s * 1000))),
        str(run.uid),
        str(run.uid),
        *step.argv,
    ]
    try:
        created: dict[str, Any] = client.api.create_container(
            image,
            command=command,
            entrypoint=[],
            user="0:0",
            working_dir=WORKDIR,
            environment={"PATH": path, "HOME": WORKDIR, **step.env},
            hostname="sandbox",
            network_disabled=True,
            stdin_open=True,
            tty=False,
            labels={LABEL: "step", OWNER_LABEL: owner, f"{LABEL}.run": run_id},
            host_config=host_config,
        )
    except docker.errors.ImageNotFound as exc:
        raise SandboxUnavailable(
            f"image {image} is missing: run `execbox images build {step.language or ''}`"
        ) from exc
    except docker.errors.DockerException as exc:
        raise SandboxError(f"dockerd could not create the container: {exc}") from exc
    return str(created["Id"])
