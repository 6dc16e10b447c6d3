"""``execbox images``: build and list the Docker backend's images, without a registry."""

from __future__ import annotations

import time

import typer

from execbox.errors import ConfigError, ExecboxError, UnknownLanguage
from execbox.sandbox.docker.images.catalog import ImageSpec, specs_for
from execbox.settings import load_settings


def register(app: typer.Typer) -> None:
    """Add the image commands to the main command line."""
    images = typer.Typer(help="The Docker backend's images.", no_args_is_help=True)
    app.add_typer(images, name="images")

    def _specs(command: str, languages: list[str] | None) -> list[ImageSpec]:
        from execbox.languages import load_registry

        try:
            return specs_for(load_registry(), languages or [])
        except (ConfigError, UnknownLanguage) as exc:
            typer.echo(f"execbox images {command}: {exc}", err=True)
            raise typer.Exit(2) from exc

    @images.command("build")
    def build(
        languages: list[str] = typer.Argument(  # noqa: B008
            None, help="language ids or aliases (default: every language)"
        ),
        mirror: str = typer.Option(
            None, help="Debian mirror for debootstrap (default: the host's apt mirror)"
        ),
        rebuild: bool = typer.Option(
            False, "--rebuild", help="build again images already built from the same recipe"
        ),
    ) -> None:
        """Build each language's image (the shared Debian base plus a layer of the language's
        packages) with debootstrap, apt-get and docker commit, showing progress; no registry
        is used.  Images already built from the same recipe are kept unless --rebuild."""
        from execbox.sandbox.docker.images.build import ImageBuilder

        specs = _specs("build", languages)
        try:
            settings = load_settings()
        except ConfigError as exc:
            typer.echo(f"execbox images build: {exc}", err=True)
            raise typer.Exit(2) from exc

        def progress(line: str) -> None:
            typer.echo(f"[{time.monotonic() - start:6.1f}s] {line}")

        start = time.monotonic()
        builder = ImageBuilder(settings.data_dir / "images", progress, mirror)
        built: list[str] = []
        failed: list[str] = []
        for number, spec in enumerate(specs, 1):
            try:
                if not rebuild and builder.is_current(spec):
                    progress(f"[{number}/{len(specs)}] {spec.ref}: up to date")
                    continue
                progress(f"[{number}/{len(specs)}] {spec.ref}: building")
                builder.build(spec)
                built.append(spec.ref)
            except ExecboxError as exc:
                typer.echo(f"execbox images build: {spec.language}: {exc}", err=True)
                failed.append(spec.language)
        took = time.monotonic() - start
        typer.echo(f"built {len(built)} image(s) in {took:.0f} s: {', '.join(built) or 'none'}")
        if failed:
            typer.echo(f"execbox images build: failed: {', '.join(failed)}", err=True)
            raise typer.Exit(1)

    @images.command("list")
    def list_images(
        languages: list[str] = typer.Argument(  # noqa: B008
            None, help="language ids or aliases (default: every language)"
        ),
    ) -> None:
        """Each language's image and whether it is built and current."""
        from execbox.sandbox.docker.images.build import ImageBuilder

        specs = _specs("list", languages)
        builder = ImageBuilder(load_settings().data_dir / "images", lambda _: None)
        try:
            for spec in specs:
                state = builder.state(spec)
                packages = " ".join(spec.packages) or "-"
                typer.echo(f"{spec.language:14} {spec.ref:34} {state:12} {packages}")
        except ExecboxError as exc:
            typer.echo(f"execbox images list: {exc}", err=True)
            raise typer.Exit(2) from exc
