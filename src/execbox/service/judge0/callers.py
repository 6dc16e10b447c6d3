"""Who sends a Judge0 request: the API key in ``X-Auth-Token`` (an invalid one is 401,
an empty one too; none: a guest), and the service the routes answer for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Request

from execbox.service.auth import Caller, Credentials, credentials
from execbox.service.context import ServiceContext
from execbox.service.guests import guest_id
from execbox.service.routes import address_of
from execbox.service.routes import caller as identify_caller

AuthToken = Annotated[str | None, Header(alias="X-Auth-Token", include_in_schema=False)]


def context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.execbox
    return ctx


def _authorization(token: str | None) -> str | None:
    if token is not None and not token.strip():
        return "Bearer"  # an empty key is an invalid key, not a guest
    return f"Bearer {token.strip()}" if token else None


async def caller(request: Request, token: str | None) -> Caller:
    """The caller, in a transaction of its own (the routes that start no run)."""
    return await identify_caller(request, context(request), authorization=_authorization(token))


def credentials_of(request: Request, token: str | None) -> Credentials:
    """The caller as the request names it, looked up in the transaction that admits the run."""
    return credentials(_authorization(token), address_of(request), guest_id(request))
