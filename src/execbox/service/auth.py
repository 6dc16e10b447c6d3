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

from sqlalchemy import Connection

from execbox.service.errors import Unauthorized
from execbox.store import Plan, User, runpath, usage


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


@dataclass(frozen=True)
class Credentials:
    """Who a request says it comes from, before the database is asked (that happens in the
    transaction that admits its run, or in :meth:`RunService.identify`)."""

    key: str | None
    """The API key of ``Authorization: Bearer``; ``None`` for a guest."""
    address: str
    guest_id: str


def bearer_key(header: str | None) -> str | None:
    """The key of an ``Authorization: Bearer <key>`` header; 401 for any other scheme."""
    if header is None:
        return None
    scheme, _, key = header.strip().partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("The Authorization header must be 'Bearer <api key>'.")
    return key


def credentials(authorization: str | None, address: str, guest_id: str) -> Credentials:
    """What a request says about its caller (401 for a malformed header; no database)."""
    return Credentials(bearer_key(authorization), address, guest_id)


def identify(
    connection: Connection,
    who: Credentials,
    *,
    guests_enabled: bool,
    day: date,
    count_runs: bool = True,
) -> Caller:
    """The caller behind ``who``: a user by key (401 if none holds it or it is disabled),
    else a guest (401 when guests are off).  ``count_runs``: read the runs counted today
    (a run's admission counts them as it spends one instead)."""
    if who.key is None:
        if not guests_enabled:
            raise Unauthorized("An API key is required: send 'Authorization: Bearer <api key>'.")
        subject = f"guest:{who.address}"
        return Caller(
            subject=subject,
            owner=usage.owner_of(subject, who.guest_id),
            plan=runpath.plan_named(connection, "guest"),
            runs_today=runpath.runs_on(connection, subject, day) if count_runs else 0,
        )
    found = runpath.user_by_key(connection, who.key)
    if found is None:
        raise Unauthorized("The API key is not valid.")
    user, plan = found
    if user.disabled:
        raise Unauthorized("This API key's user is disabled.")
    return Caller(
        subject=user.subject,
        owner=user.subject,
        plan=plan,
        user=user,
        runs_today=runpath.runs_on(connection, user.subject, day) if count_runs else 0,
    )
