"""``cloudbay --version``: the installed distribution's version, from its metadata."""

from __future__ import annotations

from importlib import metadata
from typing import Annotated

import typer

DISTRIBUTION = "cloudbay"


def installed_version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"{DISTRIBUTION} {installed_version()}")
        raise typer.Exit()


def root_options(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="print the version and exit")
    ] = False,
) -> None:
    """The options of ``cloudbay`` itself (before any command)."""
