"""Languages are data: one TOML file each under ``data/``, validated when loaded."""

from execbox.languages.registry import CompileSpec, Language, LanguageRegistry, load_registry

__all__ = ["CompileSpec", "Language", "LanguageRegistry", "load_registry"]
