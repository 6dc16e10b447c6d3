"""Users and their API keys.

A key is 256 random bits shown once; only its SHA-256 is stored (a key that
random needs no salt or slow hash: it cannot be guessed, only stolen).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from execbox.errors import ConfigError
from execbox.store import plans
from execbox.store.models import UserRow

KEY_PREFIX = "ebx_"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    plan: str
    disabled: bool
    created_at: datetime

    @property
    def subject(self) -> str:
        return f"user:{self.id}"


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _to_user(row: UserRow) -> User:
    return User(row.id, row.name, row.plan, row.disabled, row.created_at)


def create(session: Session, name: str, plan: str, now: datetime) -> tuple[User, str]:
    """A new user on ``plan`` and their API key (the only time it is seen)."""
    name = name.strip()
    if not name or len(name) > 128:
        raise ConfigError("a user name must be 1 to 128 characters")
    plans.require(session, plan)
    if session.scalar(select(UserRow.id).where(UserRow.name == name)) is not None:
        raise ConfigError(f"a user named {name!r} already exists")
    key = new_key()
    row = UserRow(name=name, plan=plan, key_hash=hash_key(key), disabled=False, created_at=now)
    session.add(row)
    session.flush()
    return _to_user(row), key


def by_key(session: Session, key: str) -> User | None:
    row = session.scalar(select(UserRow).where(UserRow.key_hash == hash_key(key)))
    return _to_user(row) if row is not None else None


def _require(session: Session, name: str) -> UserRow:
    row = session.scalar(select(UserRow).where(UserRow.name == name))
    if row is None:
        raise ConfigError(f"no user named {name!r}")
    return row


def list_all(session: Session) -> list[User]:
    return [_to_user(row) for row in session.scalars(select(UserRow).order_by(UserRow.name))]


def set_disabled(session: Session, name: str, disabled: bool) -> User:
    row = _require(session, name)
    row.disabled = disabled
    return _to_user(row)


def set_plan(session: Session, name: str, plan: str) -> User:
    plans.require(session, plan)
    row = _require(session, name)
    row.plan = plan
    return _to_user(row)


def rotate_key(session: Session, name: str) -> str:
    """Replace a user's key; the old one stops working at once."""
    row = _require(session, name)
    key = new_key()
    row.key_hash = hash_key(key)
    return key
