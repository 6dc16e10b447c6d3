"""Attacks of our own, across the catalogue's categories (beyond SECURITY.md's examples)."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from execbox.engine import Engine
from execbox.languages import LanguageRegistry
from execbox.results import Status
from tests.conftest import EVERY_BUILDER, Runner, make_runner, single_uid_engine
from tests.security.test_catalogue import SYSCALL

pytestmark = EVERY_BUILDER

EPERM = "Operation not permitted"


@pytest.mark.parametrize(
    ("name", "call"),
    [
        ("ptrace attach to init", "call(101, 16, 1, 0, 0)"),
        ("mount tmpfs", "call(165, b'none', b'/tmp', b'tmpfs', 0, 0)"),
        ("chroot", "call(161, b'/tmp')"),
        ("pivot_root", "call(155, b'/tmp', b'/tmp')"),
        ("unshare mount ns", "call(272, 0x20000)"),
        ("unshare net ns", "call(272, 0x40000000)"),
        ("setns", "call(308, os.open('/proc/self/ns/net', os.O_RDONLY), 0)"),
        ("clone with CLONE_NEWPID", "call(56, 0x20000000 | 17, 0, 0, 0, 0)"),
        ("kexec_load", "call(246, 0, 0, 0, 0)"),
        ("init_module", "call(175, 0, 0, b'')"),
        ("reboot", "call(169, 0xfee1dead, 672274793, 0x1234567, 0)"),
        ("swapon", "call(167, b'/tmp/x', 0)"),
        ("process_vm_readv", "call(310, 1, 0, 0, 0, 0, 0)"),
        ("open_by_handle_at", "call(304, 0, 0, 0)"),
        ("add_key", "call(248, b'user', b'x', b'x', 1, -2)"),
        ("personality ADDR_NO_RANDOMIZE", "call(135, 0x0040000)"),
        ("socket AF_VSOCK", "call(41, 40, 1, 0)"),
        ("socket AF_ALG", "call(41, 38, 5, 0)"),
        ("socket AF_PACKET", "call(41, 17, 3, 0)"),
        ("sethostname", "call(170, b'evil', 4)"),
        ("settimeofday", "call(164, 0, 0)"),
        ("syslog read", "call(103, 3, 0, 0)"),
        ("quotactl", "call(179, 0, 0, 0, 0)"),
        ("io_uring_enter", "call(426, 0, 0, 0, 0, 0, 0)"),
    ],
)
def test_denied_system_calls(run: Runner, name: str, call: str) -> None:
    result = run("python", SYSCALL + f"print({call})\n")
    assert result.stdout.strip() == EPERM, f"{name}: {result.stdout} {result.stderr}"


def test_threads_still_start_with_clone3_refused(run: Runner) -> None:
    code = (
        "import threading\nout = []\n"
        "ts = [threading.Thread(target=out.append, args=(i,)) for i in range(8)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\nprint(sorted(out))\n"
    )
    result = run("python", code)
    assert result.stdout.strip() == str(list(range(8)))


def test_i386_and_x32_abis_are_refused(run: Runner, backend_name: str) -> None:
    code = r"""
#include <stdio.h>
int main(void) {
    long r32, rx32;
    /* getpid through the i386 entry point (int 0x80, nr 20) */
    __asm__ volatile ("int $0x80" : "=a"(r32) : "a"(20L) : "memory");
    /* getpid through the x32 ABI (nr 39 | __X32_SYSCALL_BIT) */
    __asm__ volatile ("syscall" : "=a"(rx32) : "a"(39L | 0x40000000L) : "rcx", "r11", "memory");
    printf("%ld %ld\n", r32, rx32);
    return 0;
}
"""
    result = run("c", code)
    if backend_name == "docker":
        # runc's filter kills a foreign-ABI call (SIGSYS) instead of failing it: refused too.
        assert (result.status, result.signal) == (Status.RUNTIME_ERROR, "SIGSYS"), result
        return
    assert result.status is Status.OK, result
    assert result.stdout.split() == ["-1", "-1"]  # -EPERM from both


MASKED_PROC_FILES = ["keys", "key-users", "kallsyms", "timer_list", "sched_debug"]


def test_sensitive_proc_files_are_masked(run: Runner) -> None:
    code = (
        f"for f in {' '.join(MASKED_PROC_FILES)}; do "
        'if [ -e /proc/$f ]; then echo "$f $(cat /proc/$f 2>/dev/null | wc -c)"; '
        'else echo "$f absent"; fi; done; echo end\n'
    )
    result = run("bash", code)
    assert result.status is Status.OK, result
    *lines, end = result.stdout.splitlines()
    assert end == "end"
    assert [line.split()[0] for line in lines] == MASKED_PROC_FILES, result.stdout
    for line in lines:
        assert line.split()[1] in ("0", "absent"), f"/proc/{line.split()[0]} is readable"


def test_proc_sys_and_sysrq_are_read_only(run: Runner) -> None:
    host_name = socket.gethostname()
    code = (
        '{ echo evil > /proc/sys/kernel/hostname; } 2>/dev/null; echo "hostname rc=$?"\n'
        '{ echo b > /proc/sysrq-trigger; } 2>/dev/null; echo "sysrq rc=$?"\n'
        "hostname\n"
    )
    result = run("bash", code)
    assert result.status is Status.OK, result
    assert result.stdout.splitlines() == ["hostname rc=1", "sysrq rc=1", "sandbox"], result
    assert socket.gethostname() == host_name


def test_no_sys_no_docker_socket_no_host_runtime_files(run: Runner) -> None:
    code = (
        "for p in /var/run/docker.sock /run/docker.sock /run/execbox /var/lib/execbox "
        "/usr/local/bin/docker /etc/shadow; do [ -e $p ] && echo present $p; done\n"
        "for d in /root /home /sys/firmware /sys/kernel; do "
        '[ -n "$(ls -A $d 2>/dev/null)" ] && echo nonempty $d; done\n'
        "[ -d /sys ] && touch /sys/x 2>/dev/null && echo writable /sys\n"
        "echo end\n"
    )
    result = run("bash", code)
    assert (result.status, result.stdout) == (Status.OK, "end\n"), result


def test_device_nodes_cannot_be_made(run: Runner) -> None:
    result = run("bash", "mknod /tmp/sda b 8 0 2>&1; mknod /box/mem c 1 1 2>&1; echo end\n")
    assert result.stdout.count("Operation not permitted") == 2
    assert result.stdout.endswith("\nend\n"), result


def test_setuid_bit_gives_nothing(run: Runner) -> None:
    code = "cp /usr/bin/id /box/myid; chmod u+s /box/myid; /box/myid -u; id -u\n"
    result = run("bash", code)
    assert result.status is Status.OK, result
    assert len(result.stdout.split()) == 2, result
    first, second = result.stdout.split()
    assert first == second and first != "0"


def test_core_dumps_off_and_open_files_capped(run: Runner) -> None:
    result = run("bash", "ulimit -c; ulimit -n\n")
    assert result.status is Status.OK and len(result.stdout.split()) == 2, result
    core, files = result.stdout.split()
    assert core == "0"
    assert int(files) <= 256


def test_dev_shm_is_capped_and_private(run: Runner) -> None:
    result = run("bash", "dd if=/dev/zero of=/dev/shm/x bs=1M count=500 2>&1\n")
    assert "No space left on device" in result.stdout
    assert run("bash", "ls -A /dev/shm | wc -l\n").stdout.strip() == "0"


def test_hard_links_to_host_files_are_impossible(run: Runner) -> None:
    result = run("bash", "ln /usr/bin/bash /tmp/b 2>&1; ln /etc/passwd /box/p 2>&1; echo end\n")
    assert result.stdout.count("Invalid cross-device link") == 2
    assert result.stdout.endswith("\nend\n"), result


def test_kill_everything_reaches_only_the_sandbox(
    engine: Engine, data_dir: Path, registry: LanguageRegistry, leftovers: None
) -> None:
    # A host process with the very uid the program runs as: only the sandbox's own pid
    # namespace keeps `kill -9 -1` from reaching it.
    engine, uid = single_uid_engine(data_dir, registry, engine.settings)
    victim = subprocess.Popen(["sleep", "120"], user=uid, group=uid)
    try:
        code = 'sleep 100 & child=$!\nkill -9 -1\nwait $child; echo "child $?"\necho survived\n'
        result = make_runner(engine)("bash", code)
        assert (result.status, result.stdout) == (Status.OK, "child 137\nsurvived\n"), result
        assert victim.poll() is None, "kill -9 -1 in the sandbox killed a host process"
    finally:
        victim.kill()
        victim.wait()


def test_no_dns_and_no_route_out(run: Runner) -> None:
    code = (
        "import socket\n"
        "try:\n    socket.getaddrinfo('example.com', 80); print('resolved')\n"
        "except OSError: print('no dns')\n"
        "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=1); print('routed')\n"
        "except OSError: print('no route')\n"
    )
    result = run("python", code)
    assert result.stdout.split() == ["no", "dns", "no", "route"]


def test_thread_bomb_is_contained(run: Runner) -> None:
    code = (
        "import threading, time\nn = 0\n"
        "try:\n"
        "    while True:\n"
        "        threading.Thread(target=time.sleep, args=(30,), daemon=True).start(); n += 1\n"
        "except RuntimeError:\n"
        "    print('capped', n < 64)\n"
    )
    result = run("python", code, time_limit=5)
    assert result.stdout.strip() == "capped True"


def test_java_program_cannot_escape_either(run: Runner) -> None:
    code = (
        "import java.nio.file.*;\n"
        "public class Main { public static void main(String[] a) throws Exception {\n"
        '  try { Files.writeString(Path.of("/usr/evil"), "x"); System.out.println("wrote"); }\n'
        '  catch (Exception e) { System.out.println("refused"); }\n'
        '  try { new java.net.Socket("127.0.0.1", 5432); System.out.println("connected"); }\n'
        '  catch (Exception e) { System.out.println("refused"); }\n'
        "} }\n"
    )
    result = run("java", code)
    assert result.stdout.split() == ["refused", "refused"], result
