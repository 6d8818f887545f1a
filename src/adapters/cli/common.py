"""What the ``cloudbay`` commands share: the settings (a malformed one exits 2) and the one-line failure."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer
from rich.console import Console

from adapters.settings import Settings, SettingsError
from adapters.storage import ensure_database
from projections.db import ReadModelDB

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


def read_model_rows(query: Callable[[ReadModelDB], list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The rows ``query`` reads from the read models (as the running service last projected them); a database
    that does not answer is one clear error within seconds, a read model not yet made another."""
    store = settings().store
    ensure_database(store)
    db = ReadModelDB(store)
    try:
        return query(db)
    except Exception as e:
        raise fail(f"no read model yet ({type(e).__name__}); run `cloudbay serve` or `cloudbay replay`") from None
    finally:
        db.close()
