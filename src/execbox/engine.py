"""The engine: one run of one program, from source text to a :class:`RunResult`.

It writes the program's files into a fresh workspace (the first file as the
language's entry file, see :mod:`execbox.program`), compiles in a sandbox if the
language needs it, runs in another sandbox, and classifies what happened.  The
program's failures come back as statuses; the sandbox's failures
(:class:`SandboxError`) come back as ``internal_error`` with the reason, and
are logged, never blamed on the program.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

from execbox.errors import InvalidInput, SandboxError
from execbox.foreground import in_foreground
from execbox.languages import Language, LanguageRegistry
from execbox.limits import Limits, compile_limits
from execbox.live import LiveRun, LiveStep
from execbox.program import SourceFile, as_files, layout, sources_of
from execbox.results import RawOutput, RunResult, Status
from execbox.results import decode_output as decode
from execbox.sandbox.base import SandboxBackend, StepOutcome, StepSpec, Workspace
from execbox.sandbox.policy import cpu_limited
from execbox.settings import Settings
from execbox.verdict import classify, signal_name

log = logging.getLogger(__name__)

LANG_ENV = {"LANG": "C.UTF-8"}


class Engine:
    """Runs programs through one sandbox backend."""

    def __init__(self, settings: Settings, registry: LanguageRegistry, backend: SandboxBackend):
        self.settings = settings
        self.registry = registry
        self.backend = backend

    @in_foreground
    def run(
        self,
        language: Language,
        code: str | bytes | Sequence[SourceFile],
        *,
        limits: Limits,
        stdin: str | bytes = b"",
        args: Sequence[str] = (),
        run_id: str | None = None,
        live: LiveRun | None = None,
    ) -> RunResult:
        """One run to its result.  With ``live``, output goes to it as it is written, the
        program's stdin is its input (``stdin`` is ignored: the live run holds it first) and
        a stop ends the run as ``runtime_error`` killed by SIGKILL, with the stop's reason."""
        files = layout(as_files(code, language.source_file), language.source_file)
        stdin_bytes = stdin.encode() if isinstance(stdin, str) else stdin
        self._check_input(stdin_bytes, args)
        run_id = run_id or uuid.uuid4().hex
        version: str | None = None
        compile_output = b""
        run_live: LiveStep | None = None
        try:
            version = self.backend.language_version(language)
            # the language's support files go beside the program, never over one of its files
            support = {n: b for n, b in language.support_bytes().items() if n not in files}
            files = {**files, **support}
            with self.backend.workspace(run_id, files, limits) as workspace:
                if language.compile is not None:
                    if live is not None and live.stop_reason is not None:
                        return _stopped(language.id, version, live.stop_reason, None)
                    build_limits = compile_limits(self.settings, language.compile.limits)
                    sources = sources_of(files, language.extensions)
                    compile_live = live.step("compile") if live is not None else None
                    compiled = self._compile(
                        workspace, language, build_limits, sources, compile_live
                    )
                    compile_output = compiled.stdout + compiled.stderr
                    if compile_live is not None and compile_live.stopped:
                        assert live is not None and live.stop_reason is not None
                        return _stopped(
                            language.id, version, live.stop_reason, compiled, compile_output
                        )
                    failed = self._compile_failure(
                        language, compiled, build_limits, compile_output, version
                    )
                    if failed is not None:
                        return failed
                if live is not None and live.stop_reason is not None:
                    return _stopped(language.id, version, live.stop_reason, None, compile_output)
                run_live = live.step("run") if live is not None else None
                outcome = self.backend.run_step(
                    workspace,
                    StepSpec(
                        argv=language.run_argv(limits, args),
                        limits=limits,
                        stdin=stdin_bytes,
                        env={**LANG_ENV, **language.env},
                        mounts=tuple(language.mounts),
                        language=language.id,
                        live=run_live,
                    ),
                )
        except SandboxError as exc:
            log.error("sandbox failed for run %s (%s): %s", run_id, language.id, exc)
            return RunResult.internal_error(language.id, f"The sandbox failed: {exc}", version)

        if run_live is not None and run_live.stopped:
            assert live is not None and live.stop_reason is not None
            return _stopped(
                language.id, version, live.stop_reason, outcome, compile_output, ran=True
            )
        status, message = classify(
            outcome, time_limit_s=_time_limit(outcome, limits), memory_bytes=limits.memory_bytes
        )
        return RunResult(
            language=language.id,
            version=version,
            status=status,
            message=message,
            exit_code=outcome.exit_code,
            signal=signal_name(outcome.signal),
            stdout=decode(outcome.stdout),
            stderr=decode(outcome.stderr),
            compile_output=decode(compile_output) if compile_output else None,
            duration_ms=round(outcome.duration_ms, 3),
            cpu_time_ms=round(outcome.cpu_time_ms, 3),
            memory_used=outcome.memory_bytes,
            truncated=outcome.output_limited,
            raw=RawOutput(outcome.stdout, outcome.stderr, compile_output or None),
        )

    def _compile(
        self,
        workspace: Workspace,
        language: Language,
        limits: Limits,
        sources: list[str],
        live: LiveStep | None,
    ) -> StepOutcome:
        argv = language.compile_argv(limits, sources)
        assert argv is not None
        return self.backend.run_step(
            workspace,
            StepSpec(
                argv=argv,
                limits=limits,
                env={**LANG_ENV, **language.env},
                mounts=tuple(language.mounts),
                kind="compile",
                language=language.id,
                live=live,
            ),
        )

    def _compile_failure(
        self,
        language: Language,
        compiled: StepOutcome,
        limits: Limits,
        output: bytes,
        version: str | None,
    ) -> RunResult | None:
        status, message = classify(
            compiled, time_limit_s=limits.time_s, memory_bytes=limits.memory_bytes
        )
        if status is Status.OK:
            return None
        return RunResult(
            language=language.id,
            version=version,
            status=Status.COMPILE_ERROR,
            message=f"Compilation failed: {message}" if message else "Compilation failed.",
            exit_code=compiled.exit_code,
            signal=signal_name(compiled.signal),
            compile_output=decode(output),
            duration_ms=round(compiled.duration_ms, 3),
            cpu_time_ms=round(compiled.cpu_time_ms, 3),
            memory_used=compiled.memory_bytes,
            truncated=compiled.output_limited,
            raw=RawOutput(compile_output=output),
        )

    def _check_input(self, stdin: bytes, args: Sequence[str]) -> None:
        if len(stdin) > self.settings.max_stdin_bytes:
            raise InvalidInput(
                f"stdin may be at most {self.settings.max_stdin_bytes} bytes.", field="stdin"
            )
        if len(args) > self.settings.max_args:
            raise InvalidInput(f"at most {self.settings.max_args} args are allowed.", field="args")
        for arg in args:
            if "\x00" in arg or len(arg.encode()) > self.settings.max_arg_bytes:
                raise InvalidInput(
                    f"each arg must be at most {self.settings.max_arg_bytes} bytes, without NUL.",
                    field="args",
                )


def _time_limit(outcome: StepOutcome, limits: Limits) -> float:
    """The limit a timed-out step hit: the CPU-time limit when it is the lower one and the
    step used it up (a live run's wall-clock limit is longer), else the wall-clock one."""
    if limits.cpu_time_s < limits.time_s and cpu_limited(
        outcome.signal, outcome.cpu_time_ms, limits
    ):
        return limits.cpu_time_s
    return limits.time_s


def _stopped(
    language: str,
    version: str | None,
    reason: str,
    step: StepOutcome | None,
    compile_output: bytes = b"",
    *,
    ran: bool = False,
) -> RunResult:
    """A run a stop ended, killed by SIGKILL: the program's output until then if it
    ``ran`` (``step`` is then its run step, else the compile step or None)."""
    stdout = step.stdout if step is not None and ran else b""
    stderr = step.stderr if step is not None and ran else b""
    return RunResult(
        language=language,
        version=version,
        status=Status.RUNTIME_ERROR,
        message=reason,
        exit_code=None,
        signal="SIGKILL",
        stdout=decode(stdout),
        stderr=decode(stderr),
        compile_output=decode(compile_output) if compile_output else None,
        duration_ms=round(step.duration_ms, 3) if step is not None else 0.0,
        cpu_time_ms=round(step.cpu_time_ms, 3) if step is not None else 0.0,
        memory_used=step.memory_bytes if step is not None else 0,
        truncated=step.output_limited if step is not None else False,
        raw=RawOutput(stdout, stderr, compile_output or None),
    )
