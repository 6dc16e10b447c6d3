"""Where the native backend finds a step's program: under the host's /usr (what the
sandbox sees), looked up once, and again when that file is gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from execbox.errors import SandboxError
from execbox.sandbox.native.backend import NativeBackend
from tests.conftest import make_settings


def test_a_program_is_found_once_and_again_when_it_is_gone(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = NativeBackend(make_settings(data_dir))
    first, second = tmp_path / "python3.11", tmp_path / "python3.12"
    first.write_text("")
    link = tmp_path / "python3"
    link.symlink_to(first)
    lookups: list[str] = []

    def which(name: str, *args: object, **kwargs: object) -> str | None:
        lookups.append(name)
        return str(link) if link.exists() else None

    monkeypatch.setattr(shutil, "which", which)
    assert backend._resolve(["python3", "-u", "main.py"]) == [str(first), "-u", "main.py"]
    assert backend._resolve(["python3", "x.py"]) == [str(first), "x.py"]
    assert lookups == ["python3"]  # once
    # an upgrade: the old interpreter is gone, the name points at the new one
    first.unlink()
    second.write_text("")
    link.unlink()
    link.symlink_to(second)
    assert backend._resolve(["python3", "x.py"]) == [str(second), "x.py"]
    second.unlink()
    link.unlink()
    with pytest.raises(SandboxError, match="python3 is not installed"):
        backend._resolve(["python3", "x.py"])
    assert backend._resolve(["/box/main", "a"]) == ["/box/main", "a"]  # a path: as it is
