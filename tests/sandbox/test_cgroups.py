"""cgroups: detection of the host's hierarchy, and the v2 files (this host is v1, so v2 is
checked against a directory laid out like a cgroup2 mount)."""

from __future__ import annotations

from pathlib import Path

import pytest

from execbox.errors import SandboxUnavailable
from execbox.limits import MIB, resolve_limits
from execbox.sandbox.native.cgroups import Cgroup, CgroupTree
from execbox.settings import Settings


def _mounts(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mounts"
    path.write_text(text)
    return str(path)


def test_this_hosts_hierarchy_is_detected() -> None:
    tree = CgroupTree.detect("execbox")
    assert tree.version in (1, 2)
    assert tree.roots["memory"].name == "execbox"


def test_v2_only_host_is_detected_and_limits_are_written(tmp_path: Path) -> None:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mounts = _mounts(tmp_path, f"cgroup2 {root} cgroup2 rw,nosuid 0 0\n")
    tree = CgroupTree.detect("execbox", mounts_file=mounts)
    assert tree.version == 2 and tree.roots["memory"] == root / "execbox"
    (root / "execbox").mkdir()
    limits = resolve_limits(Settings(data_dir=tmp_path))
    step = root / "execbox" / f"{tree.owner}_run1"
    step.mkdir()
    for name in ("memory.max", "memory.swap.max", "cpu.max", "pids.max"):
        (step / name).touch()
    cgroup = Cgroup(2, {c: step for c in ("memory", "cpu", "cpuacct", "pids")})
    tree._limit(cgroup, limits)
    assert (step / "memory.max").read_text() == str(128 * MIB)
    assert (step / "memory.swap.max").read_text() == "0"
    assert (step / "cpu.max").read_text() == "50000 100000"
    assert (step / "pids.max").read_text() == "66"  # the program 64, the init 1, bubblewrap 1
    (step / "memory.peak").write_text("123456\n")
    (step / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
    (step / "cpu.stat").write_text("usage_usec 2500\nuser_usec 2000\n")
    stats = cgroup.stats()
    assert (stats.memory_peak_bytes, stats.oom_kills, stats.cpu_time_ns) == (123456, 1, 2_500_000)


def test_v2_without_the_memory_controller_says_what_to_fix(tmp_path: Path) -> None:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu pids\n")
    mounts = _mounts(tmp_path, f"cgroup2 {root} cgroup2 rw 0 0\n")
    with pytest.raises(SandboxUnavailable, match="memory"):
        CgroupTree.detect("execbox", mounts_file=mounts)


def test_no_cgroups_at_all_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(SandboxUnavailable, match="no usable cgroups"):
        CgroupTree.detect("execbox", mounts_file=_mounts(tmp_path, "proc /proc proc rw 0 0\n"))


def test_a_kernel_that_leaves_sockets_uncharged_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    mounts = _mounts(tmp_path, f"cgroup2 {root} cgroup2 rw 0 0\n")
    cmdline = tmp_path / "cmdline"
    cmdline.write_text("root=/dev/vda cgroup.memory=nokmem,nosocket quiet\n")
    with pytest.raises(SandboxUnavailable, match="nosocket"):
        CgroupTree.detect("execbox", mounts_file=mounts, cmdline_file=str(cmdline))
    cmdline.write_text("root=/dev/vda cgroup.memory=nokmem quiet\n")
    assert CgroupTree.detect("execbox", mounts_file=mounts, cmdline_file=str(cmdline)).version == 2
