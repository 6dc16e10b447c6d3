"""The configuration reference, generated from the settings object itself.

Every field of :class:`~execbox.settings.Settings` carries its description,
unit, default and bounds; ``execbox config`` prints them, so the reference can
never drift from what the code accepts.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from execbox.settings import Settings

_BOUNDS = (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))


@dataclass(frozen=True)
class SettingDoc:
    """One setting as the reference shows it."""

    name: str
    env: str
    kind: str
    default: str
    bounds: str
    description: str


def _kind(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(repr(arg) for arg in args)
    if origin in (types.UnionType, typing.Union):
        return " | ".join(_kind(arg) for arg in args)
    if origin is not None:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(_kind(a) for a in args)}]"
    if annotation is type(None):
        return "none"
    return {
        "Path": "path",
        "str": "text",
        "int": "integer",
        "float": "number",
        "bool": "true | false",
    }.get(getattr(annotation, "__name__", str(annotation)), getattr(annotation, "__name__", "?"))


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
        return f"{value!s} (on this host)" if value != {} else "{}"
    if field.default is PydanticUndefined:
        return "required"
    if isinstance(field.default, bool):
        return str(field.default).lower()
    return "none" if field.default is None else str(field.default)


def _bounds(field: FieldInfo) -> str:
    parts = []
    for constraint in field.metadata:
        for attr, symbol in _BOUNDS:
            value = getattr(constraint, attr, None)
            if value is not None:
                shown = f"{value:g}" if isinstance(value, float) else str(value)
                parts.append(f"{symbol} {shown}")
        for attr in ("pattern", "min_length"):
            value = getattr(constraint, attr, None)
            if value is not None:
                parts.append(f"{attr.replace('_', ' ')} {value}")
    return ", ".join(parts)


def settings_docs() -> list[SettingDoc]:
    prefix = Settings.model_config.get("env_prefix", "")
    return [
        SettingDoc(
            name=name,
            env=f"{prefix}{name.upper()}",
            kind=_kind(field.annotation),
            default=_default(field),
            bounds=_bounds(field),
            description=field.description or "",
        )
        for name, field in Settings.model_fields.items()
    ]


def reference() -> str:
    """The reference as text: one block per setting."""
    lines = [
        "execbox settings, highest precedence first: command-line options, the environment",
        "(EXECBOX_<NAME>), the TOML file named by config_file (keys are the names below;",
        "unknown keys are refused), then the defaults.",
        "",
    ]
    for doc in settings_docs():
        detail = f"{doc.kind}; default {doc.default}"
        if doc.bounds:
            detail += f"; {doc.bounds}"
        if doc.kind.startswith("dict"):
            detail += " (JSON in the environment, a table in the file)"
        lines += [f"{doc.name}  ({doc.env})", f"    {doc.description}", f"    {detail}", ""]
    return "\n".join(lines)
