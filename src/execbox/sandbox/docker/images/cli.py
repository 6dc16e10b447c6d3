"""``execbox images``: build the Docker backend's images on this host, without a registry."""

from __future__ import annotations

import time

import typer

from execbox.errors import ConfigError, ExecboxError, UnknownLanguage
from execbox.sandbox.docker.images.catalog import specs_for
from execbox.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add the image commands to the main command line."""
    images = typer.Typer(help="The Docker backend's images.", no_args_is_help=True)
    app.add_typer(images, name="images")

    @images.command("build")
    def build(
        languages: list[str] = typer.Argument(  # noqa: B008
            None, help="language ids or aliases (default: every language)"
        ),
        mirror: str = typer.Option(
            None, help="Debian mirror for debootstrap (default: the host's apt mirror)"
        ),
    ) -> None:
        """Build images with debootstrap + docker import (no registry needed), showing progress."""
        from execbox.languages import load_registry
        from execbox.sandbox.docker.images.build import ImageBuilder

        registry = load_registry()
        try:
            settings = load_settings()
            ids = [registry.get(name).id for name in languages or []]
            specs = specs_for(ids)
        except (ConfigError, UnknownLanguage, ValueError) as exc:
            typer.echo(f"execbox images build: {exc}", err=True)
            raise typer.Exit(2) from exc

        def progress(line: str) -> None:
            typer.echo(f"[{time.monotonic() - start:6.1f}s] {line}", err=False)

        start = time.monotonic()
        builder = ImageBuilder(settings.data_dir / "images", progress, mirror)
        try:
            for spec in specs:
                builder.build(spec)
        except ExecboxError as exc:
            typer.echo(f"execbox images build: {exc}", err=True)
            raise typer.Exit(2) from exc
        typer.echo(f"built {', '.join(s.ref for s in specs)} in {time.monotonic() - start:.0f} s")
