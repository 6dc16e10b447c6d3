"""A second "host" for the fault tests: a network namespace joined to this one by a veth pair.

A worker started in it reaches Redis and PostgreSQL only over the pair, at the host side's
address, as a worker on another machine reaches them over the network.  Each test session
takes its own /30 of 10.213.0.0/16 (derived from its pid) and names its namespace and
interfaces after its pid; a session that died without cleaning up is cleaned up by the next
one (its namespace names a process that is gone).

``ip netns exec`` gives the command a private mount namespace with a fresh ``/sys``,
which hides the cgroup hierarchies mounted under ``/sys/fs/cgroup``: a worker there could
make no sandbox.  So :meth:`TestHost.argv` enters the network namespace with
``ip netns exec`` and then returns to this process's mount namespace (``nsenter
--mount``): the worker has the namespace's network and the machine's filesystem and
cgroups, as a worker on a second machine would have that machine's.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import re
import subprocess
from collections.abc import Sequence

from tests.scaleout.services import missing

PREFIX = "xbt"
SUBNET = ipaddress.IPv4Network("10.213.0.0/16")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done


def _remove_stale() -> None:
    """Namespaces and veth pairs of test sessions that are gone."""
    listed = _ip("netns", "list", check=False).stdout
    for namespace, pid in re.findall(rf"^({PREFIX}-(\d+)(?:-\d+)?)\s", listed, flags=re.M):
        if not os.path.exists(f"/proc/{pid}"):
            _ip("netns", "delete", namespace, check=False)
    links = _ip("-o", "link", "show", check=False).stdout
    for link, pid in re.findall(rf"^\d+: ({PREFIX}(\d+)h\d*)[@:]", links, flags=re.M):
        if not os.path.exists(f"/proc/{pid}"):
            _ip("link", "delete", link, check=False)


def _free_subnet(pid: int) -> ipaddress.IPv4Network:
    """A /30 of SUBNET that no interface on this side uses, starting at one named by pid."""
    used = {
        ipaddress.IPv4Interface(address).network
        for address in re.findall(r"inet (\S+)", _ip("-4", "addr", "show").stdout)
    }
    count = SUBNET.num_addresses // 4
    for step in range(count):
        base = SUBNET.network_address + ((pid + step) % count) * 4
        network = ipaddress.IPv4Network(f"{base}/30")
        if not any(network.overlaps(other) for other in used):
            return network
    raise RuntimeError(f"no free /30 left in {SUBNET}")


class TestHost:
    """The namespace ``xbt-<pid>`` (``xbt-<pid>-<index>`` for another one of this session);
    ``host_address`` is this side's end of the pair."""

    __test__ = False  # not a test class, whatever pytest thinks of its name

    def __init__(self, index: int = 0) -> None:
        if subprocess.run(["which", "ip", "nsenter"], capture_output=True).returncode != 0:
            missing("iproute2 and util-linux (ip, nsenter)")
        pid = os.getpid()
        suffix = f"-{index}" if index else ""
        self.name = f"{PREFIX}-{pid}{suffix}"
        self.host_if = f"{PREFIX}{pid}h{index or ''}"
        self.inner_if = f"{PREFIX}{pid}n{index or ''}"
        _remove_stale()
        self.network = _free_subnet(pid)
        base = self.network.network_address
        self.host_address = str(base + 1)
        self.inner_address = str(base + 2)
        self._delete()
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.inner_if)
            _ip("link", "set", self.inner_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_address}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            inside = ["netns", "exec", self.name, "ip"]
            _ip(*inside, "addr", "add", f"{self.inner_address}/30", "dev", self.inner_if)
            _ip(*inside, "link", "set", self.inner_if, "up")
            _ip(*inside, "link", "set", "lo", "up")
            # The /30 is on-link; a default route through the host side makes every other
            # address (none is served) fail fast rather than "network unreachable".
            _ip(*inside, "route", "add", "default", "via", self.host_address)
        except BaseException:
            self._delete()
            raise

    def argv(self, command: Sequence[str]) -> list[str]:
        """``command`` run in this host's network namespace (see the module docstring)."""
        mount_ns = f"/proc/{os.getpid()}/ns/mnt"
        return ["ip", "netns", "exec", self.name, "nsenter", f"--mount={mount_ns}", "--", *command]

    def run(self, command: Sequence[str], timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(command), capture_output=True, text=True, timeout=timeout)

    def _delete(self) -> None:
        with contextlib.suppress(Exception):
            _ip("netns", "delete", self.name, check=False)
        with contextlib.suppress(Exception):
            _ip("link", "delete", self.host_if, check=False)

    def close(self) -> None:
        self._delete()

    def exists(self) -> bool:
        listed = _ip("netns", "list", check=False).stdout.split()
        link = _ip("link", "show", self.host_if, check=False).returncode == 0
        return self.name in listed or link
