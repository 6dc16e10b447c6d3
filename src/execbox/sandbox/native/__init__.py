"""The native backend: bubblewrap namespaces, execbox's own cgroups, a tiny init; no daemon."""

from execbox.sandbox.native.backend import NativeBackend

__all__ = ["NativeBackend"]
