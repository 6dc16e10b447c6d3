"""A private history for each guest browser: a random guest id in an HttpOnly cookie.

Guests are *counted* per client address (a cookie must not buy a fresh quota),
but many guests can share one address (a school's NAT, a proxy), and a run's
code and stdin are private.  So every guest browser gets its own random id,
set by the server in an ``HttpOnly``, ``SameSite=Lax`` cookie on its first
request; a guest reads only the runs made with that id.  A client that keeps
no cookies (curl) is a new guest every time: it gets its results, and no
history.
"""

from __future__ import annotations

import re
import secrets
from http.cookies import CookieError, SimpleCookie

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

COOKIE = "execbox_guest"
MAX_AGE_S = 400 * 86_400  # the longest lifetime browsers honour
_VALID = re.compile(r"^[A-Za-z0-9_-]{22,43}$")
STATE_KEY = "execbox_guest_id"


def new_guest_id() -> str:
    return secrets.token_urlsafe(16)  # 128 random bits, 22 characters


def _cookie_value(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name != b"cookie":
            continue
        cookies: SimpleCookie = SimpleCookie()
        try:
            cookies.load(value.decode("latin-1"))
        except CookieError:  # a malformed Cookie header only means no guest id
            continue
        morsel = cookies.get(COOKIE)
        if morsel is not None and _VALID.match(morsel.value):
            return morsel.value
    return None


class GuestIdMiddleware:
    """Puts the request's guest id in ``scope["state"]``, minting (and setting) one if the
    browser sent none or an invalid one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        guest_id = _cookie_value(scope)
        fresh = guest_id is None
        if guest_id is None:
            guest_id = new_guest_id()
        scope.setdefault("state", {})[STATE_KEY] = guest_id
        secure = "; Secure" if scope.get("scheme") == "https" else ""
        cookie = f"{COOKIE}={guest_id}; Max-Age={MAX_AGE_S}; Path=/; HttpOnly; SameSite=Lax{secure}"

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                MutableHeaders(scope=message).append("set-cookie", cookie)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def guest_id(request: Request) -> str:
    """The guest id :class:`GuestIdMiddleware` gave this request."""
    value = getattr(request.state, STATE_KEY, None)
    if not isinstance(value, str):
        raise RuntimeError("GuestIdMiddleware is not installed")
    return value


def websocket_guest_id(scope: Scope) -> str:
    """A WebSocket's guest id: the one its browser's cookie carries (the editor page set it),
    else a fresh one (a client without cookies gets its result, and no history)."""
    return _cookie_value(scope) or new_guest_id()
