"""Turn a step's raw facts into the contract's status and message.

The same function serves every backend, so a status means the same thing
whichever sandbox ran the program.  Order matters: a limit that fired
explains a kill better than the signal does.
"""

from __future__ import annotations

import signal as _signal

from execbox.results import Status
from execbox.sandbox.base import StepOutcome


def signal_name(number: int | None) -> str | None:
    if number is None:
        return None
    try:
        return _signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def classify(
    outcome: StepOutcome, *, time_limit_s: float, memory_bytes: int
) -> tuple[Status, str | None]:
    """The status of a finished step and the sentence that explains it (None for ``ok``)."""
    if outcome.output_limited:
        return (
            Status.OUTPUT_LIMIT,
            "Output passed the limit; the program was stopped and the output truncated.",
        )
    if outcome.oom_killed:
        return Status.MEMORY_LIMIT, f"Memory limit of {memory_bytes // (1 << 20)} MB exceeded."
    if outcome.timed_out:
        return Status.TIMEOUT, f"Time limit of {time_limit_s:g} s exceeded."
    if outcome.signal is not None:
        return Status.RUNTIME_ERROR, f"Killed by signal {signal_name(outcome.signal)}."
    if outcome.exit_code == 0:
        return Status.OK, None
    return Status.RUNTIME_ERROR, f"Exited with code {outcome.exit_code}."
