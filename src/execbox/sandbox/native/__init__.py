"""The native backend: fresh namespaces (execbox-sandbox or bubblewrap), execbox's own cgroups, a
tiny init; no daemon."""

from execbox.sandbox.native.backend import NativeBackend

__all__ = ["NativeBackend"]
