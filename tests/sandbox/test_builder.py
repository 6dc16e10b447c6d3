"""execbox-sandbox, the native backend's own sandbox builder (``native/sandbox.c``).

It takes bubblewrap's command line (the part execbox writes) and must build the same
sandbox: the parity test compares what a program sees inside under each builder.  The
security suite runs every attack under both (``tests/security/conftest.py``).  What it
refuses, it refuses before making anything, with a message; what fails while building
ends the sandbox before anything runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.limits import resolve_limits
from execbox.results import Status
from execbox.sandbox.initbin import static_binary
from execbox.sandbox.native.backend import NativeBackend
from execbox.sandbox.native.host import SANDBOX_SOURCE
from tests.conftest import UID_BASE, UID_COUNT, make_settings

# The builder is the native backend's: the session's backend fixture, native only.
pytestmark = [
    pytest.mark.usefixtures("leftovers"),
    pytest.mark.parametrize("sandbox_name", ["native"], indirect=True),
]


# What a program can tell of its sandbox: its credentials, capabilities, no_new_privs
# and seccomp; its host name, directory and environment; every mount with its options;
# the loopback interface; /proc's writable corners; its pid, parent and session.
PROBE = r"""
import os, socket
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
for key in ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
            "NoNewPrivs", "Seccomp"):
    print(key, status[key].strip())
print(os.uname().nodename, os.getcwd(), sorted(os.environ.items()))
for line in open("/proc/self/mountinfo"):
    fields = line.split()
    print("mount", fields[4], fields[5], fields[-3], fields[-1])
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen()
socket.create_connection(server.getsockname()).close()
print("loopback up")
for path in ("/proc/sys/kernel/hostname", "/proc/sysrq-trigger", "/etc/passwd", "/usr/x"):
    try:
        open(path, "w").close()
        print(path, "writable")
    except OSError as exc:
        print(path, exc.strerror)
print(sorted(os.listdir("/")), sorted(os.listdir("/dev")))
print(os.getpid(), os.getppid(), os.getsid(0) == os.getpid())
print(open("/proc/self/cgroup").read().split())
print("end")
"""


def _probe(data_dir: Path, registry: LanguageRegistry, builder: str) -> str:
    settings = make_settings(data_dir, sandbox_builder=builder, warm_sandboxes=0)
    backend = NativeBackend(settings)
    try:
        python = registry.get("python")
        result = Engine(settings, registry, backend).run(
            python, PROBE, limits=resolve_limits(settings, language=python.limits)
        )
    finally:
        backend.close()
    assert result.status == Status.OK and result.stdout.endswith("end\n"), result
    return result.stdout


def test_the_sandbox_a_program_sees_is_bubblewraps(
    data_dir: Path, registry: LanguageRegistry
) -> None:
    ours = _probe(data_dir, registry, "execbox")
    assert ours == _probe(data_dir, registry, "bubblewrap")
    # ...and it is a sandbox: no capability, the filter on, nothing of the host's writable.
    assert "CapEff 0000000000000000\nCapBnd 0000000000000000\n" in ours
    assert "NoNewPrivs 1\nSeccomp 2\n" in ours
    assert "loopback up\n" in ours and "/etc/passwd Read-only file system\n" in ours
    assert "mount / ro," in ours


@pytest.fixture(scope="module")
def builder(data_dir: Path) -> str:
    return str(static_binary(SANDBOX_SOURCE, data_dir, "execbox-sandbox"))


SANDBOX_UID = UID_BASE + UID_COUNT - 2


def _build(builder: str, *args: str, as_root: bool = False) -> tuple[int, str]:
    """The builder run as a sandbox uid of this session (or root): exit status, stderr."""
    uid = None if as_root else SANDBOX_UID
    done = subprocess.run(
        [builder, *args], user=uid, group=uid, capture_output=True, text=True, timeout=30
    )
    return done.returncode, done.stderr


BASE = [
    "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-net", "--unshare-uts",
    "--as-pid-1", "--uid", "1000", "--gid", "1000",
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--share-net", "--", "/bin/true"], "unsupported option: --share-net"),
        ([*BASE, "--dev-bind", "/", "/"], "no command (missing --)"),
        ([*BASE[1:], "--dev-bind", "/", "/", "--", "/x"], "every namespace"),
        ([*BASE[:5], "--as-pid-1", "--dev-bind", "/", "/", "--", "/x"], "--uid and --gid"),
        ([*BASE, "--tmpfs", "/tmp", "--", "/x"], "the first operation must bind the root"),
        ([*BASE, "--dev-bind", "/", "relative", "--", "/x"], "an absolute path: relative"),
        ([*BASE, "--dev-bind", "/nonexistent-source", "/", "--", "/x"], "cannot resolve"),
        ([*BASE, "--perms", "0755", "--proc", "/proc", "--", "/x"], "must precede --tmpfs"),
        ([*BASE, "--size", "9", "--bind", "/", "/", "--", "/x"], "must precede --tmpfs"),
        ([*BASE, "--perms", "0799", "--tmpfs", "/tmp", "--", "/x"], "bad mode: 0799"),
        ([*BASE, "--size", "0", "--tmpfs", "/tmp", "--", "/x"], "bad size: 0"),
        ([*BASE, "--seccomp", "fd", "--", "/x"], "not a descriptor: fd"),
        ([*BASE, "--uid"], "missing argument to: --uid"),
    ],
)
def test_a_command_line_it_does_not_know_is_refused(
    builder: str, args: list[str], message: str
) -> None:
    status, stderr = _build(builder, *args)
    assert status == 1 and message in stderr, stderr


def test_it_refuses_to_run_as_root(builder: str) -> None:
    status, stderr = _build(builder, *BASE, "--dev-bind", "/", "/", "--", "/x", as_root=True)
    assert status == 1 and "refusing to run as root" in stderr


def test_a_mount_that_fails_ends_the_sandbox_before_anything_runs(
    builder: str, data_dir: Path
) -> None:
    # A destination that the root does not have: the sandbox is made (its pid reported),
    # then ends with the builder's reason before its command runs.  The same command line
    # with a destination that exists runs the command: the refusal is the mount's.
    root = data_dir / "builder-test-root"
    for point in ("usr", "tmp", "out"):
        (root / point).mkdir(parents=True, exist_ok=True)
    for link, target in (("lib", "usr/lib"), ("lib64", "usr/lib64"), ("bin", "usr/bin")):
        if not (root / link).is_symlink():
            (root / link).symlink_to(target)
    out = data_dir / "builder-test-out"
    out.mkdir(exist_ok=True)
    os.chown(out, SANDBOX_UID, SANDBOX_UID)
    root.chmod(0o755)

    def build(tmpfs: str) -> tuple[int, str, dict[str, int]]:
        json_r, json_w = os.pipe()
        command = [
            builder, *BASE, "--dev-bind", str(root), "/", "--ro-bind", "/usr", "/usr",
            "--tmpfs", tmpfs, "--bind", str(out), "/out", "--json-status-fd", str(json_w),
            "--", "/bin/touch", "/out/ran",
        ]  # fmt: skip
        done = subprocess.run(
            command,
            user=SANDBOX_UID,
            group=SANDBOX_UID,
            pass_fds=(json_w,),
            capture_output=True,
            text=True,
            timeout=30,
        )
        os.close(json_w)
        with os.fdopen(json_r) as status:
            return done.returncode, done.stderr, json.loads(status.read())

    status, stderr, report = build("/no-such-dir")
    assert report["child-pid"] > 0
    assert status == 1
    assert "cannot mount a tmpfs on /no-such-dir: No such file or directory" in stderr
    assert not (out / "ran").exists()
    status, stderr, report = build("/tmp")
    assert (status, stderr) == (0, "") and report["child-pid"] > 0
    assert (out / "ran").exists()
