"""Which memory cgroup the Docker backend charges a container's socket buffers to (v1)."""

from __future__ import annotations

from pathlib import Path

from execbox.sandbox.docker.sockets import MEMORY_ROOT, charge_socket_buffers, memory_cgroup


def _proc(tmp_path: Path, pid: int, text: str) -> Path:
    (tmp_path / str(pid)).mkdir()
    (tmp_path / str(pid) / "cgroup").write_text(text)
    return tmp_path


def test_a_running_containers_memory_cgroup_is_its_own(tmp_path: Path) -> None:
    proc = _proc(tmp_path, 7, "5:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n0::/\n")
    assert memory_cgroup(7, proc) == MEMORY_ROOT / "docker" / "abc"


def test_an_ended_init_shows_the_root_and_gets_no_cgroup(tmp_path: Path) -> None:
    """A container whose init already ended (it refused to run, say) is a zombie in the
    root cgroup until reaped: the host's root limits are never the container's to write,
    and the run reports the init's own reason rather than a failed write to the root."""
    proc = _proc(tmp_path, 7, "5:cpu,cpuacct:/\n4:memory:/\n0::/\n")
    assert memory_cgroup(7, proc) is None


def test_a_process_that_is_gone_is_nothing_to_charge(tmp_path: Path) -> None:
    assert memory_cgroup(7, tmp_path) is None
    assert charge_socket_buffers(2**22 + 12345, 1 << 20) is False  # no such pid
