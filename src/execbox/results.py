"""Typed requests, step outcomes and run results, with the contract's wire names.

Python code uses snake_case with units in the names; the JSON the contract
promises (``exitCode``, ``durationMs``, ``memoryUsed``) comes from the aliases.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


def decode_output(data: bytes) -> str:
    """Program output as text: invalid UTF-8 is replaced visibly (U+FFFD), NUL is kept."""
    return data.decode("utf-8", errors="replace")


class Status(enum.StrEnum):
    OK = "ok"
    RUNTIME_ERROR = "runtime_error"
    COMPILE_ERROR = "compile_error"
    TIMEOUT = "timeout"
    MEMORY_LIMIT = "memory_limit"
    OUTPUT_LIMIT = "output_limit"
    INTERNAL_ERROR = "internal_error"


class WireModel(BaseModel):
    """Base for models that travel as camelCase JSON."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)

    def to_wire(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True)
class RawOutput:
    """A run's output exactly as the program wrote it; the result's text fields decode it."""

    stdout: bytes = b""
    stderr: bytes = b""
    compile_output: bytes | None = None


class RunResult(WireModel):
    """The result object of the contract: one per finished run."""

    language: str
    version: str | None = None
    status: Status
    message: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    stdout: str = ""
    stderr: str = ""
    compile_output: str | None = None
    duration_ms: float = 0.0
    cpu_time_ms: float = 0.0
    memory_used: int = 0
    truncated: bool = False
    raw: RawOutput | None = Field(default=None, exclude=True, repr=False)
    """The bytes behind ``stdout``, ``stderr`` and ``compile_output`` (never on the wire)."""

    def output_bytes(self) -> RawOutput:
        """The exact output: ``raw`` when the result came from a sandbox, else the text's UTF-8."""
        if self.raw is not None:
            return self.raw
        return RawOutput(
            stdout=self.stdout.encode("utf-8", "surrogatepass"),
            stderr=self.stderr.encode("utf-8", "surrogatepass"),
            compile_output=(
                self.compile_output.encode("utf-8", "surrogatepass")
                if self.compile_output is not None
                else None
            ),
        )

    @classmethod
    def internal_error(cls, language: str, message: str, version: str | None = None) -> RunResult:
        return cls(
            language=language, version=version, status=Status.INTERNAL_ERROR, message=message
        )
