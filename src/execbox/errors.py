"""The one exception tree of execbox.

A *program's* failure (it crashed, timed out, ran out of memory) is never an
exception: it is a status in a :class:`~execbox.results.RunResult`.  Exceptions
are for the sandbox or the service failing, and for requests that cannot be
served.  They are translated once, at the boundary: the engine turns
``SandboxError`` into an ``internal_error`` result, the HTTP layer turns the
request errors into 4xx bodies.

    ExecboxError
    ├── ConfigError            settings or a data file are invalid
    ├── RequestError           a request cannot be served as asked (4xx)
    │   ├── UnknownLanguage    no such language on this host
    │   ├── InvalidLimits      a requested limit is out of range
    │   └── InvalidInput       code, stdin, args or file names are unacceptable
    ├── SandboxError           the sandbox itself failed (never the program's fault)
    │   └── SandboxUnavailable no backend can run here; says what to fix
    └── NoCapacity             no worker can take a run now (503); says when to retry
        └── QueueUnavailable   the run queue (Redis) cannot be reached (503)

The HTTP layer adds its own request errors (401, 403, 404, 413, 429) under
``RequestError`` and ``SandboxNotReady`` under ``NoCapacity``, in
:mod:`execbox.service.errors`.
"""

from __future__ import annotations


class ExecboxError(Exception):
    """Root of every error execbox raises on purpose."""


class ConfigError(ExecboxError):
    """A setting, a language file or a plan is invalid."""


class RequestError(ExecboxError):
    """A request cannot be served as asked; ``field`` names the culprit when known."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class UnknownLanguage(RequestError):
    def __init__(self, language: str, supported: list[str]) -> None:
        self.language = language
        self.supported = supported
        super().__init__(
            f"Unknown language {language!r}; supported: {', '.join(supported)}.",
            field="language",
        )


class InvalidLimits(RequestError):
    """A requested limit is not a number in the allowed range."""


class InvalidInput(RequestError):
    """Code, stdin, arguments or file names are not acceptable."""


class SandboxError(ExecboxError):
    """The sandbox failed to start, run or clean up a step."""


class SandboxUnavailable(SandboxError):
    """No sandbox can run on this host; the message says what to install or fix."""


class NoCapacity(ExecboxError):
    """Every worker is busy and the queue is full; try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class QueueUnavailable(NoCapacity):
    """The run queue (Redis) cannot be reached: no run is accepted until it answers."""

    code = "queue_unavailable"
