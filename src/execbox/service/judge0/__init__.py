"""A Judge0 CE 1.13.1 compatible HTTP API at ``/judge0``.

A thin adapter over the run service that ``/api/editor/run`` uses: Judge0's
requests become execbox runs (same checks, quotas and run log; recorded with
``api = "judge0"``), and stored runs are shown as Judge0 submissions.  A
submission's token is its run id written as a UUID.
"""

from execbox.service.judge0.routes import router

__all__ = ["router"]
