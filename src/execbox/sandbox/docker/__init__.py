"""The Docker backend: a fresh container per step through the Engine API, and its images."""

from execbox.sandbox.docker.backend import DockerBackend

__all__ = ["DockerBackend"]
