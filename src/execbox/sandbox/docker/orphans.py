"""Whose step containers are whose: every container carries the ``io.execbox.owner`` label
(host, pid and start time of the process that made it), so a backend can remove those
whose owner is gone (a killed service leaves nothing running)."""

from __future__ import annotations

import logging
import socket

import docker
import docker.errors

from execbox.sandbox.docker.images.catalog import LABEL
from execbox.sandbox.leftovers import owner_alive, owner_tag

log = logging.getLogger(__name__)

OWNER_LABEL = f"{LABEL}.owner"


def owner_id(pid: int | None = None) -> str:
    """The owner label's value for process ``pid`` (this process by default) on this host."""
    return f"{socket.gethostname()}/{owner_tag(pid)}"


def own_containers_filter() -> dict[str, str]:
    """An Engine API filter matching the step containers of this process (for checks, tests)."""
    return {"label": f"{OWNER_LABEL}={owner_id()}"}


def remove_orphans(client: docker.DockerClient, me: str) -> None:
    """Remove step containers whose owning process, on this host, is gone (never ``me``'s)."""
    host = socket.gethostname()
    try:
        found = client.api.containers(all=True, filters={"label": OWNER_LABEL})
    except docker.errors.DockerException as exc:
        log.warning("cannot list execbox containers: %s", exc)
        return
    for entry in found:
        owner = (entry.get("Labels") or {}).get(OWNER_LABEL, "")
        owner_host, _, tag = owner.partition("/")
        if owner_host != host or owner == me or owner_alive(tag):
            continue
        try:
            client.api.remove_container(entry["Id"], force=True)
            log.info("removed orphaned container %s of %s", entry["Id"][:12], owner)
        except docker.errors.DockerException as exc:
            log.warning("cannot remove orphan %s: %s", entry["Id"][:12], exc)
