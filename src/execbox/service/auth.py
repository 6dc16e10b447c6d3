"""Who is calling: a user by API key, or a guest counted by client address.

The user and their plan are read from the database on every request, so
``execbox users disable`` and ``execbox plans set`` take effect at once.  A
guest's runs are counted per address but owned by its browser's guest id (see
:mod:`execbox.service.guests`): guests behind one address share a quota, never
a history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy.orm import Session

from execbox.service.errors import Unauthorized
from execbox.store import Plan, User, plans, usage, users


@dataclass(frozen=True)
class Caller:
    subject: str
    """Whom runs are counted against: ``user:<id>``, or ``guest:<address>``."""
    owner: str
    """Who may read the runs: the user's subject, or ``guest:<address>#<guest id>``."""
    plan: Plan
    user: User | None = None
    runs_today: int = 0
    """Runs counted against ``subject`` today, read with the plan (one trip to the database)."""


def bearer_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; 401 for any other scheme."""
    if header is None:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("The Authorization header must be 'Bearer <api key>'.")
    return key


def identify(
    session: Session,
    *,
    authorization: str | None,
    address: str,
    guest_id: str,
    guests_enabled: bool,
    day: date,
) -> Caller:
    key = bearer_key(authorization)
    if key is None:
        if not guests_enabled:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <api key>'.")
        subject = f"guest:{address}"
        return Caller(
            subject=subject,
            owner=usage.owner_of(subject, guest_id),
            plan=plans.require(session, "guest"),
            runs_today=usage.runs_on(session, subject, day),
        )
    user = users.by_key(session, key)
    if user is None:
        raise Unauthorized("The API key is not valid.")
    if user.disabled:
        raise Unauthorized("This API key's user is disabled.")
    return Caller(
        subject=user.subject,
        owner=user.subject,
        plan=plans.require(session, user.plan),
        user=user,
        runs_today=usage.runs_on(session, user.subject, day),
    )
