"""Sandbox backends: one fresh sandbox per step, behind one small protocol."""

from execbox.sandbox.base import SandboxBackend, StepOutcome, StepSpec, Workspace

__all__ = ["SandboxBackend", "StepOutcome", "StepSpec", "Workspace"]
