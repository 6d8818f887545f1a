"""The ``cloudbay`` command's outer guard: an operator's mistake is one clear line on stderr, not a traceback.

A database that does not answer (wrong host, closed port, server down) is reported within
``CONNECT_TIMEOUT_SECONDS`` naming ``CLOUDBAY_DATABASE_URL`` and the host; a missing signing key names
``CLOUDBAY_SIGNING_KEY``; a malformed setting names the setting.
"""

from __future__ import annotations

import sys
from typing import Any

import typer
from rich.console import Console

from adapters.auth import MissingSigningKey
from adapters.settings import Settings, SettingsError, StoreSettings
from adapters.storage import StoreUnreachable, ensure_database, unreachable

LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")

err = Console(stderr=True, soft_wrap=True)


class GuardedTyper(typer.Typer):
    """A Typer app whose known operator errors end the process with a one-line message and exit code 1 or 2."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except SettingsError as e:
            _exit(f"configuration error: {e}", 2)
        except (StoreUnreachable, MissingSigningKey) as e:
            _exit(f"error: {e}", 1)
        except Exception as e:
            if _is_connection_error(e):
                _exit(f"error: {unreachable(Settings.from_env().store, e)}", 1)
            raise


CONNECTION_ERRORS = {"psycopg.OperationalError", "psycopg_pool.PoolTimeout", "psycopg.errors.ConnectionTimeout"}


def _is_connection_error(error: Exception) -> bool:
    """A lost or refused connection (not a deadlock or another OperationalError subclass), on PostgreSQL."""
    cls = type(error)
    return f"{cls.__module__}.{cls.__name__}" in CONNECTION_ERRORS and _on_postgres()


def _on_postgres() -> bool:
    try:
        return Settings.from_env().store.kind == "postgres"
    except SettingsError:
        return False


def check_log_level(log_level: str) -> None:
    if log_level.lower() not in LOG_LEVELS:
        raise SettingsError(f"--log-level must be one of {', '.join(LOG_LEVELS)}, not {log_level!r}")


def check_reachable(store: StoreSettings) -> None:
    """Before reading a read model: a database that does not answer is one clear error, within seconds."""
    ensure_database(store)


def _exit(message: str, code: int) -> None:
    err.print(message, markup=False, highlight=False)
    sys.exit(code)
