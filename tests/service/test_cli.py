"""``execbox users ...`` and ``execbox plans ...`` as an operator uses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from execbox.cli import app
from execbox.store import Database, users


@pytest.fixture
def cli(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("EXECBOX_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("EXECBOX_DATABASE_URL", database_url)
    return CliRunner()


def invoke(cli: CliRunner, *args: str, code: int = 0) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_users_create_prints_a_working_key_as_the_last_line(
    cli: CliRunner, database_url: str
) -> None:
    out = invoke(cli, "users", "create", "alice")
    key = out.strip().splitlines()[-1]
    db = Database(database_url)
    with db.transaction() as session:
        user = users.by_key(session, key)
    db.close()
    assert user is not None and user.name == "alice" and user.plan == "free"
    assert "alice\tfree\tactive" in invoke(cli, "users", "list")
    invoke(cli, "users", "create", "alice", code=2)  # names are unique
    invoke(cli, "users", "create", "bob", "--plan", "nope", code=2)


def test_users_can_be_disabled_moved_and_given_new_keys(cli: CliRunner, database_url: str) -> None:
    old = invoke(cli, "users", "create", "alice", "--plan", "pro").strip().splitlines()[-1]
    invoke(cli, "users", "disable", "alice")
    assert "alice\tpro\tdisabled" in invoke(cli, "users", "list")
    invoke(cli, "users", "enable", "alice")
    invoke(cli, "users", "set-plan", "alice", "free")
    new = invoke(cli, "users", "rotate-key", "alice").strip().splitlines()[-1]
    db = Database(database_url)
    with db.transaction() as session:
        assert users.by_key(session, old) is None
        found = users.by_key(session, new)
    db.close()
    assert found is not None and found.plan == "free" and not found.disabled


def test_plans_set_creates_from_free_and_updates_only_what_is_given(cli: CliRunner) -> None:
    listed = invoke(cli, "plans", "list")
    assert (
        "free\tdaily-runs=100\tmax-code-bytes=102400\ttime-limit=10s\tmemory-limit=128MB" in listed
    )
    assert "guest" in listed and "pro" in listed
    out = invoke(cli, "plans", "set", "team", "--daily-runs", "500", "--languages", "python,c")
    assert "team\tdaily-runs=500\tmax-code-bytes=102400\ttime-limit=10s" in out
    assert "languages=python,c" in out
    out = invoke(cli, "plans", "set", "team", "--time-limit", "5", "--languages", "*")
    assert "team\tdaily-runs=500\tmax-code-bytes=102400\ttime-limit=5s" in out
    assert "languages=*" in out
    invoke(cli, "plans", "set", "team", "--memory-limit", "2", code=2)


def test_plans_set_languages_resolves_aliases_and_refuses_unknown_ids(cli: CliRunner) -> None:
    out = invoke(cli, "plans", "set", "team", "--languages", "py, node,JS,c")
    assert "languages=python,javascript,c" in out
    refused = invoke(cli, "plans", "set", "team", "--languages", "python,klingon", code=2)
    assert "Unknown language 'klingon'" in refused
    assert "languages=python,javascript,c" in invoke(cli, "plans", "list")  # left unchanged
