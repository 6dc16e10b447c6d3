"""cgroups: detection of the host's hierarchy, and the v2 files and placement (checked
against a directory laid out like a cgroup2 mount here, and for real on a cgroup-v2 host:
``scripts/test-cgroup-v2`` runs this module in a VM)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from execbox.errors import SandboxUnavailable
from execbox.limits import MIB, LimitOverrides, Limits, resolve_limits
from execbox.results import Status
from execbox.sandbox.native import cgroup2
from execbox.sandbox.native.cgroups import Cgroup, CgroupTree
from execbox.settings import Settings
from tests import scratch
from tests.conftest import Runner


def _mounts(tmp_path: Path, text: str) -> str:
    path = tmp_path / "mounts"
    path.write_text(text)
    return str(path)


def _self(tmp_path: Path, cgroup: str) -> str:
    path = tmp_path / "self-cgroup"
    path.write_text(f"0::{cgroup}\n")
    return str(path)


def _v2_host(tmp_path: Path, unit: str, controllers: str, delegated: bool) -> tuple[Path, str]:
    """A cgroup2-shaped tree where this process sits in ``unit``; returns (unit dir, mounts)."""
    root = tmp_path / "cgroup2"
    base = root / unit.lstrip("/")
    base.mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (base / "cgroup.controllers").write_text(controllers + "\n")
    if delegated:
        os.setxattr(base, "trusted.delegate", b"1")  # what systemd sets for Delegate=yes
    return base, _mounts(tmp_path, f"cgroup2 {root} cgroup2 rw,nsdelegate 0 0\n")


def test_this_hosts_hierarchy_is_detected() -> None:
    tree = CgroupTree.detect("execbox")
    assert tree.version in (1, 2)
    assert tree.roots["memory"].name == "execbox"


def test_v2_only_host_is_detected_and_limits_are_written(tmp_path: Path) -> None:
    root = tmp_path / "cgroup2"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    mounts = _mounts(tmp_path, f"cgroup2 {root} cgroup2 rw,nosuid 0 0\n")
    tree = CgroupTree.detect("execbox", mounts_file=mounts, proc_cgroup=_self(tmp_path, "/"))
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
        CgroupTree.detect("execbox", mounts_file=mounts, proc_cgroup=_self(tmp_path, "/"))


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
        CgroupTree.detect(
            "execbox",
            mounts_file=mounts,
            cmdline_file=str(cmdline),
            proc_cgroup=_self(tmp_path, "/"),
        )
    cmdline.write_text("root=/dev/vda cgroup.memory=nokmem quiet\n")
    assert (
        CgroupTree.detect(
            "execbox",
            mounts_file=mounts,
            cmdline_file=str(cmdline),
            proc_cgroup=_self(tmp_path, "/"),
        ).version
        == 2
    )


def test_v2_runs_go_under_the_cgroup_systemd_delegated(tmp_path: Path) -> None:
    unit = "/system.slice/execbox.service"
    base, mounts = _v2_host(tmp_path, unit, "cpu io memory pids", delegated=True)
    tree = CgroupTree.detect("execbox", mounts_file=mounts, proc_cgroup=_self(tmp_path, unit))
    assert tree.version == 2 and tree.roots["memory"] == base / "execbox"
    assert tree.placement is not None and tree.placement.how == "delegated"
    assert "delegated to execbox" in tree.describe() and "memory pids" in tree.describe()
    # Once execbox moved itself into its leaf, the same base is found again.
    leaf = _self(tmp_path, f"{unit}/{cgroup2.LEAF}")
    again = CgroupTree.detect("execbox", mounts_file=mounts, proc_cgroup=leaf)
    assert again.roots == tree.roots


def test_v2_delegated_cgroup_without_memory_says_what_to_fix(tmp_path: Path) -> None:
    unit = "/system.slice/execbox.service"
    _, mounts = _v2_host(tmp_path, unit, "cpu pids", delegated=True)
    with pytest.raises(SandboxUnavailable) as caught:
        CgroupTree.detect("execbox", mounts_file=mounts, proc_cgroup=_self(tmp_path, unit))
    assert "execbox.service (delegated) lacks the memory controller" in str(caught.value)
    assert "Delegate=yes" in str(caught.value)


def _cgroup2_options() -> list[str] | None:
    with open("/proc/self/mounts") as handle:
        for line in handle:
            fields = line.split()
            if fields[2] == "cgroup2":
                return fields[3].split(",")
    return None


@pytest.mark.skipif(_cgroup2_options() is None, reason="no cgroup2 mount on this host")
def test_favordynmods_keeps_every_option_the_host_mounted_cgroup2_with() -> None:
    tree = CgroupTree.detect("execbox")
    assert tree.unified is not None
    before = [o for o in _cgroup2_options() or [] if o != "favordynmods"]
    # Start from a mount without the option, as a host would have it.
    subprocess.run(
        ["mount", "-o", ",".join(["remount", *before]), "none", str(tree.unified)], check=True
    )
    assert "favordynmods" not in (_cgroup2_options() or [])
    assert tree.favor_dynamic_changes()
    assert sorted(_cgroup2_options() or []) == sorted([*before, "favordynmods"])


def _is_v2() -> bool:
    return CgroupTree.detect("execbox").version == 2


@pytest.mark.skipif(not _is_v2(), reason="this host is cgroup v1 (see scripts/test-cgroup-v2)")
def test_on_v2_execbox_holds_no_process_where_controllers_are_enabled(
    run: Runner, backend_name: str
) -> None:
    if backend_name != "native":
        pytest.skip("the native backend's own cgroup tree")
    result = run("python", "print('ran')\n")
    assert (result.status, result.stdout) == (Status.OK, "ran\n")
    tree = CgroupTree.detect("execbox")
    assert tree.placement is not None
    base = tree.placement.base
    enabled = (base / "cgroup.subtree_control").read_text().split()
    assert {"memory", "cpu", "pids"} <= set(enabled)
    own = Path("/sys/fs/cgroup") / cgroup2.own_cgroup().lstrip("/")
    if tree.placement.how == "root":
        assert own == base == Path("/sys/fs/cgroup")
    else:  # no-internal-processes: everything of the base moved into the leaf
        assert (base / "cgroup.procs").read_text() == ""
        assert own == base / cgroup2.LEAF
    runs = tree.roots["memory"]
    assert {"memory", "cpu", "pids"} <= set((runs / "cgroup.subtree_control").read_text().split())


@pytest.fixture
def scope_data_dir() -> Iterator[Path]:
    with scratch.data_dir("scope") as path:
        yield path


@pytest.mark.skipif(
    not (
        _is_v2()
        and cgroup2.SYSTEMD_RUNNING.is_dir()
        and Path("/run/dbus/system_bus_socket").exists()  # systemd-run --wait needs D-Bus
        and shutil.which("systemd-run")
    ),
    reason="needs systemd as PID 1 on cgroup v2 and a D-Bus system bus",
)
def test_under_a_unit_without_delegation_execbox_makes_its_own_delegated_scope(
    scope_data_dir: Path,
) -> None:
    data = scope_data_dir
    hog = data / "hog.py"
    hog.write_text(
        "print('start', flush=True)\nb = []\nwhile True:\n    b.append(bytearray(1 << 20))\n"
    )
    hello = data / "hello.py"
    hello.write_text("print('hello')\n")
    execbox = str(Path(sys.executable).with_name("execbox"))

    def in_plain_unit(program: Path) -> dict[str, object]:
        argv = [
            "systemd-run", "--wait", "--pipe", "--quiet", "--collect", "-p", "Delegate=no",
            "-E", f"EXECBOX_DATA_DIR={data}", "-E", "EXECBOX_SANDBOX_UID_BASE=1950000",
            "-E", "EXECBOX_SANDBOX_UID_COUNT=8",
            execbox, "run", "--json", "--memory-limit", "32", str(program),
        ]  # fmt: skip
        done = subprocess.run(argv, capture_output=True, text=True, timeout=240, check=False)
        assert done.stdout, done.stderr
        return dict(json.loads(done.stdout))

    assert (in_plain_unit(hello)["status"], in_plain_unit(hello)["stdout"]) == ("ok", "hello\n")
    hogged = in_plain_unit(hog)
    assert (hogged["status"], hogged["stdout"]) == ("memory_limit", "start\n")
    units = subprocess.run(
        ["systemctl", "list-units", "--all", "--plain", "--no-legend", "execbox-*.scope"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert units.stdout.strip() == ""


SOCKET_FILLER = """
import socket, sys
fill = sys.argv[1] == "fill"
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(16)
queued, kept = 0, []
for _ in range(8):
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    kept += [client, peer]
    client.setblocking(False)
    try:
        while fill:
            queued += client.send(b"x" * 65536)
    except BlockingIOError:
        pass
print("queued", queued, flush=True)
"""


@pytest.mark.skipif(not _is_v2(), reason="v1's TCP accounting is tested with the v1 code")
def test_on_v2_socket_buffers_are_charged_to_the_run(run: Runner, backend_name: str) -> None:
    if backend_name != "native":
        pytest.skip("the native backend's own cgroups")
    idle = run("python", SOCKET_FILLER, args=["idle"], memory_limit=64)
    assert (idle.status, idle.stdout) == (Status.OK, "queued 0\n"), idle
    result = run("python", SOCKET_FILLER, args=["fill"], memory_limit=64)
    assert result.status is Status.OK, result
    queued = int(result.stdout.split()[1])
    # Unread data sits in kernel socket buffers, not in Python's heap: only if those
    # buffers are charged to the run's cgroup does its peak memory grow with them.
    assert queued >= 8 * MIB
    assert idle.memory_used + queued // 2 <= result.memory_used <= 64 * MIB


BURN = """
import sys, time
sys.stdin.readline()  # joined the cgroup: go
start = time.process_time()
touched = bytearray(int(sys.argv[2]) << 20)
for i in range(0, len(touched), 4096):
    touched[i] = 1
while time.process_time() - start < float(sys.argv[1]):
    pass
print("burnt", flush=True)
"""


def _burn_in(cgroup: Cgroup, cpu_s: float, memory_mb: int) -> None:
    """A host process of this test's own (no user code) that joins ``cgroup``, then uses
    ``cpu_s`` of CPU and touches ``memory_mb`` of memory there."""
    proc = subprocess.Popen(
        [sys.executable, "-c", BURN, str(cpu_s), str(memory_mb)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for directory in cgroup.directories():
            (directory / "cgroup.procs").write_text(str(proc.pid))
        out, _ = proc.communicate("go\n", timeout=60)
    finally:
        proc.kill()
        proc.wait()
    assert out == "burnt\n"


def _limits_of(tmp_path: Path, memory_mb: int) -> Limits:
    return resolve_limits(
        Settings(data_dir=tmp_path), request=LimitOverrides(memory_limit_mb=memory_mb)
    )


def _peak_resettable(version: int) -> bool:
    """v1 resets ``memory.max_usage_in_bytes``; v2's ``memory.peak`` resets from Linux 6.12."""
    major, minor = (int(p) for p in os.uname().release.split(".")[:2])
    return version == 1 or (major, minor) >= (6, 12)


SETUP_BURN_S = 0.6
STEP_BURN_S = SETUP_BURN_S / 8


def test_a_steps_cpu_and_memory_are_counted_from_its_start_not_the_sandboxs_setup(
    tmp_path: Path,
) -> None:
    """What a sandbox's setup uses in its cgroup before the step (bubblewrap's namespaces
    and mounts; a warm sandbox's, long before) is not the program's: a step's figures
    count from :meth:`Cgroup.start_accounting` on.

    The bounds are CPU time the burns measure themselves (``time.process_time``), so they
    mean the same on a fast host and under emulation, where what a process costs around
    its burn (touching its memory, exiting) is many times larger."""
    tree = CgroupTree.detect("execbox")
    tree.prepare()
    cgroup = tree.create(f"acct{os.getpid()}", _limits_of(tmp_path, 256))
    try:
        _burn_in(cgroup, SETUP_BURN_S, 96)  # the "setup": 96 MB touched, then its burn
        before = cgroup.stats()
        setup_ns = before.cpu_time_ns
        assert setup_ns >= 0.9 * SETUP_BURN_S * 1e9
        assert before.memory_peak_bytes >= 96 * MIB
        cgroup.start_accounting()
        _burn_in(cgroup, STEP_BURN_S, 8)  # the "step": an eighth of the setup's burn, 8 MB
        step = cgroup.stats()
        # The step's own burn is counted...
        assert step.cpu_time_ns >= 0.9 * STEP_BURN_S * 1e9, (step, setup_ns)
        # ...and none of the setup's: counted from the cgroup's start, the step would be
        # over the setup's whole count.  The margin (half the setup's burn) is for what
        # the two processes cost around their burns, which differs by less than that.
        assert step.cpu_time_ns <= setup_ns - SETUP_BURN_S / 2 * 1e9, (step, setup_ns)
        if _peak_resettable(cgroup.version):
            assert 8 * MIB <= step.memory_peak_bytes <= 64 * MIB
    finally:
        cgroup.destroy()


def test_a_runs_cpu_time_is_its_programs_not_its_sandboxs(
    run: Runner, backend_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A C program that does nothing uses far less CPU than the sandbox's setup around it
    (the builder's namespaces and mounts, in the same cgroup): the setup is not counted.

    The builder's own setup costs about as much as an empty program's exec, so the setup is
    made large: a burn of the test's own joins the step's cgroup just before the program is
    let go.  What the cgroup has used by then is read there, so the bound scales with the
    machine (a fast host or an emulated VM, ~12-30x slower)."""
    if backend_name != "native":
        pytest.skip("the native backend's own cgroups")
    setups_ms: list[float] = []
    start_accounting = Cgroup.start_accounting

    def spy(cgroup: Cgroup) -> None:
        _burn_in(cgroup, SETUP_BURN_S / 6, 8)  # part of the "setup", as far as the run knows
        setups_ms.append(cgroup.stats().cpu_time_ns / 1e6)  # all the cgroup has used so far
        start_accounting(cgroup)

    monkeypatch.setattr(Cgroup, "start_accounting", spy)
    pairs = []
    for _ in range(3):
        setups_ms.clear()
        result = run("c", '#include <stdio.h>\nint main(void) { puts("ran"); return 0; }\n')
        assert (result.status, result.stdout) == (Status.OK, "ran\n"), result
        assert setups_ms  # the run step's is the last (after the compile step's)
        pairs.append((result.cpu_time_ms, setups_ms[-1]))
    # Counted with the setup, a run's CPU would be over its setup's; the program's own is
    # a small part of it.
    assert max(cpu / setup for cpu, setup in pairs) < 0.25, pairs
