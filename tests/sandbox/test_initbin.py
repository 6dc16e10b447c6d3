"""The sandbox's static helpers (init, launcher): built with musl when it is installed,
with the system's gcc otherwise, and rebuilt when the compiler changes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from execbox.errors import SandboxUnavailable
from execbox.sandbox import initbin
from execbox.sandbox.initbin import static_binary

HELLO = 'int main(void) { return write(1, "built\\n", 6) == 6 ? 0 : 1; }\n'


def _source(tmp_path: Path) -> Path:
    source = tmp_path / "hello.c"
    source.write_text("#include <unistd.h>\n" + HELLO)
    return source


def _runs(binary: Path) -> str:
    return subprocess.run([str(binary)], capture_output=True, text=True, check=True).stdout


@pytest.mark.skipif(shutil.which("musl-gcc") is None, reason="musl-tools is not installed")
def test_with_musl_installed_the_helpers_are_static_musl_programs(tmp_path: Path) -> None:
    source = Path(initbin.__file__).parent / "native" / "init.c"
    binary = static_binary(source, tmp_path, "execbox-init")
    code = binary.read_bytes()
    # glibc's start-up probes the CPU with CPUID (a hypervisor exit each on a VM): none here
    assert b"GLIBC_" not in code and b"musl" in code
    assert _runs(static_binary(_source(tmp_path), tmp_path, "hello")) == "built\n"


def test_without_musl_gcc_builds_them_under_another_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path)
    first = static_binary(source, tmp_path, "hello")
    real_which = shutil.which

    def no_musl(name: str, *args: object, **kwargs: object) -> str | None:
        return None if name == "musl-gcc" else real_which(name)

    monkeypatch.setattr(shutil, "which", no_musl)
    with_gcc = static_binary(source, tmp_path, "hello")
    assert _runs(with_gcc) == "built\n"
    assert b"GLIBC_" in with_gcc.read_bytes()  # statically linked glibc, not a dynamic one
    assert subprocess.run(["ldd", str(with_gcc)], capture_output=True).returncode != 0
    if real_which("musl-gcc") is not None:
        assert with_gcc != first  # a switch of compiler rebuilds: the old binary is not reused
        assert first.is_file()


def test_with_no_compiler_at_all_the_sandbox_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shutil, "which", lambda *_a, **_k: None)
    with pytest.raises(SandboxUnavailable, match="apt-get install gcc"):
        static_binary(_source(tmp_path), tmp_path, "hello")
