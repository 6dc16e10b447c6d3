"""What ``/readyz`` answers, and what a readiness probe offers the routes.

Two probes implement it: :class:`execbox.service.health.ReadinessProbe` (the embedded
server: its own sandbox's self-test and the database) and
:class:`execbox.service.queue_health.QueueReadiness` (an API node: the database, Redis
and a live worker).  This module loads neither, so an API node never loads sandbox code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Readiness:
    ready: bool
    checks: dict[str, str] = field(default_factory=dict)


class Probe(Protocol):
    async def check(self) -> Readiness:
        """Ready or not, with each check's verdict."""
        ...

    async def sandbox_ready(self) -> bool:
        """Whether runs may be accepted for the sandbox now."""
        ...
