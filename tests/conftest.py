"""Shared fixtures: settings with a private data dir, and engines per backend."""

from __future__ import annotations
