"""What the ``cloudbay`` commands share: the settings (a malformed one exits 2) and the one-line failure."""

from __future__ import annotations

import typer
from rich.console import Console

from adapters.settings import Settings, SettingsError

err = Console(stderr=True)


def settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as e:
        err.print(f"[red]configuration error:[/red] {e}")
        raise typer.Exit(2) from None


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print ``message`` as an error; raise what this returns to exit with ``code``."""
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)
