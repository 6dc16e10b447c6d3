"""Judge0's ``callback_url``: when a submission finishes, ``PUT`` it there as Judge0 does.

The body is the submission with Judge0's default fields, base64-encoded (what
Judge0 1.13.1 sends), as JSON.  Only URLs whose host an operator allows
(``EXECBOX_JUDGE0_CALLBACK_HOSTS``; none by default) are accepted at submission
time, so the service is never turned into a request forwarder.  A failed call is
retried a few times and then logged; it never changes the run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)

TRIES = 3
TIMEOUT_S = 5.0


async def send(url: str, body: dict[str, Any]) -> bool:
    """PUT ``body`` to ``url``; True once it was answered with a 2xx."""
    async with httpx.AsyncClient(timeout=TIMEOUT_S, follow_redirects=False) as client:
        for attempt in range(1, TRIES + 1):
            try:
                response = await client.put(url, json=body)
                if response.is_success:
                    return True
                log.warning("Judge0 callback %s answered %s", url, response.status_code)
            except httpx.HTTPError as exc:
                log.warning("Judge0 callback %s failed (try %d): %s", url, attempt, exc)
            await asyncio.sleep(0.2 * attempt)
    return False
