"""File names a request may give (SECURITY.md F6): checked before anything is written.

Unit tests of the name check, which runs no sandbox: they live here rather than in
tests/security, where every test must fail without a sandbox (tests/test_null_backend.py).
"""

from __future__ import annotations

import pytest

from execbox.errors import InvalidInput
from execbox.sandbox.rundir import check_file_name


@pytest.mark.parametrize(
    "name", ["../../etc/x", "/etc/x", "a\x00b", "..", "", "a/../b", "a//b", "a\nb", "x" * 300]
)
def test_f6_bad_file_names_are_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        check_file_name(name)
    assert info.value.field == "files"


def test_f6_sub_folders_are_file_names() -> None:
    assert check_file_name("lib/util.py") == "lib/util.py"  # multi-file programs
