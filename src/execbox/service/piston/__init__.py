"""A Piston v2 compatible HTTP API at ``/piston``: ``POST /api/v2/execute`` and
``GET /api/v2/runtimes`` as Piston answers them, over the same run service as
``/api/editor/run`` (same checks, quotas and run log; runs are recorded with
``api = "piston"``).  The WebSocket ``/api/v2/connect`` belongs to the streaming
engine and is not served here."""

from execbox.service.piston.routes import router

__all__ = ["router"]
