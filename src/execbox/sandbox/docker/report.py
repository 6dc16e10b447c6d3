"""A step's outcome from what its container left: the init's report line (see
``docker/init.c``), or, when there is none, Docker's view of the container.

The report is ``KIND NUMBER WALL_NS CPU_NS PEAK_BYTES OOM_KILLS TIMED_OUT ... [WHAT]``: KIND
``exit`` or ``signal`` (NUMBER the exit code or signal), ``exec-error`` (the program could
not be started) or ``sandbox-error`` (the init itself failed, NUMBER an errno, WHAT the
step that failed).
"""

from __future__ import annotations

import os
from typing import Any

from execbox.errors import SandboxError
from execbox.limits import Limits
from execbox.sandbox.base import StepOutcome
from execbox.sandbox.docker.io import Streams
from execbox.sandbox.policy import cpu_limited

_SIGKILL = 9


def step_outcome(
    streams: Streams,
    state: dict[str, Any],
    line: str | None,
    limits: Limits,
    backstop: bool,
    elapsed_s: float,
) -> StepOutcome | None:
    """The step's facts from the init's report (``line``, or Docker's ``state`` when the
    container ended without one); None if the program could not be started."""
    oom_flag = bool(state.get("OOMKilled"))
    if line is None:
        if not backstop:
            said = streams.diagnostics.decode(errors="replace").strip()
            raise SandboxError(
                f"the container init did not report (exit {state.get('ExitCode')}, "
                f"{state.get('Error') or 'no error'}{': ' + said if said else ''})"
            )
        return StepOutcome(
            exit_code=None,
            signal=_SIGKILL,
            stdout=bytes(streams.stdout),
            stderr=bytes(streams.stderr),
            duration_ms=elapsed_s * 1000,
            cpu_time_ms=0.0,
            memory_bytes=0,
            timed_out=True,
            oom_killed=oom_flag,
            output_limited=streams.output_limited,
        )
    fields = line.split()
    try:
        kind, number = fields[0], int(fields[1])
        wall_ns, cpu_ns, peak, ooms, timed_out = (int(value) for value in fields[2:7])
    except (IndexError, ValueError) as exc:
        raise SandboxError(f"unreadable report from the container init: {line!r}") from exc
    if kind == "sandbox-error":
        what = fields[8] if len(fields) > 8 else "unknown step"
        raise SandboxError(f"the container init failed: {what}: {os.strerror(number)}")
    if kind == "exec-error":
        return None
    signal = number if kind == "signal" else None
    cpu_ms = cpu_ns / 1e6
    cpu_hit = cpu_limited(signal, cpu_ms, limits)
    return StepOutcome(
        exit_code=number if kind == "exit" else None,
        signal=signal,
        stdout=bytes(streams.stdout),
        stderr=bytes(streams.stderr),
        duration_ms=wall_ns / 1e6,
        cpu_time_ms=cpu_ms,
        memory_bytes=min(peak, limits.memory_bytes),
        timed_out=bool(timed_out) or cpu_hit or backstop,
        oom_killed=oom_flag or ooms > 0,
        output_limited=streams.output_limited,
    )
