"""A fresh store for one benchmark run: a SQLite file in a temporary directory, or a PostgreSQL database made
here and dropped afterwards."""

from __future__ import annotations

import contextlib
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path

from adapters.settings import StoreSettings
from adapters.storage import drop_database, ensure_database

PG_BASE = "postgresql://postgres@127.0.0.1:5432"


@contextlib.contextmanager
def fresh_store(store: str) -> Iterator[tuple[str, Path]]:
    """``(database URL, temporary directory)`` for ``store`` (sqlite or postgres), removed on exit."""
    with tempfile.TemporaryDirectory() as tmp:
        if store == "sqlite":
            yield f"sqlite:///{Path(tmp) / 'cloudbay.sqlite3'}", Path(tmp)
            return
        url = f"{PG_BASE}/cloudbay_bench_{secrets.token_hex(4)}"
        ensure_database(StoreSettings(url))
        try:
            yield url, Path(tmp)
        finally:
            drop_database(StoreSettings(url))
