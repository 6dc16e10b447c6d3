"""Who the client is, behind the reverse proxies an operator trusts and no others.

A guest is counted, and their run history found, by client address, so the
address must be one the client cannot choose.  ``X-Forwarded-For`` is believed
only when the connection comes from a proxy named in the ``trusted_proxies``
setting (none by default; uvicorn's own handling, which trusts 127.0.0.1, is
off in every entry point).  The header is then read as the chain it is: each
proxy appends the address it saw, so walking it from the right, every hop
that is itself a trusted proxy passes on to the one before it, and the first
address that is not a trusted proxy is the client.  An entry that is not an
IP address ends the walk at the last proxy that could be trusted.
``X-Forwarded-Proto`` from a trusted proxy sets the scheme.  ``Forwarded``
(RFC 7239) and other headers are never read: a proxy that sets only one kind
would pass the client's own copy of the other through untouched.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_SCHEMES = {"http", "https", "ws", "wss"}


def parse_network(value: str) -> IPNetwork:
    """An address (``10.0.0.7``) or network (``10.0.0.0/8``); ``ValueError`` names a bad one."""
    try:
        return ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (CIDR)") from None


def parse_address(value: str) -> IPAddress | None:
    """An address as a proxy writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[2001:db8::1]:443``,
    ``2001:db8::1``); ``None`` for anything else.  IPv4-mapped IPv6 becomes IPv4."""
    value = value.strip()
    if value.startswith("["):
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: Iterable[str]) -> None:
        self.networks = tuple(parse_network(network) for network in networks)

    def __contains__(self, address: IPAddress | None) -> bool:
        return address is not None and any(
            address.version == network.version and address in network for network in self.networks
        )

    def client(self, peer: IPAddress | None, forwarded_for: list[str]) -> IPAddress | None:
        """The client's address: ``peer`` (who connected) unless a trusted proxy forwarded."""
        client = peer
        for entry in reversed(forwarded_for):
            if client not in self:
                break
            hop = parse_address(entry)
            if hop is None:
                break
            client = hop
        return client


class ForwardedMiddleware:
    """Sets the request's client (and scheme) from the headers of trusted proxies only."""

    def __init__(self, app: ASGIApp, trusted: Iterable[str]) -> None:
        self.app = app
        self.trusted = TrustedProxies(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and self.trusted.networks:
            self._apply(scope)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope) -> None:
        client = scope.get("client")
        peer = parse_address(client[0]) if client else None
        if peer not in self.trusted:
            return
        forwarded_for: list[str] = []
        proto: str | None = None
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                forwarded_for.extend(value.decode("latin-1").split(","))
            elif name == b"x-forwarded-proto":
                proto = value.decode("latin-1").split(",")[-1].strip().lower()
        address = self.trusted.client(peer, forwarded_for)
        if address is not None and address != peer:
            scope["client"] = (str(address), 0)
        if proto in _SCHEMES:
            websocket = scope["type"] == "websocket"
            scope["scheme"] = proto.replace("http", "ws") if websocket else proto
