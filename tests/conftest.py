from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.settings import StoreSettings
from services.storage import drop_database, ensure_database
from tests.support import LiveServer

PG_BASE = os.environ.get("CLOUDBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")

logging.getLogger("ocpp").setLevel(logging.CRITICAL)


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Every storage test runs on the embedded SQLite store and on PostgreSQL (a fresh database each)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'cloudbay.sqlite3'}"
        return
    url = f"{PG_BASE}/cloudbay_test_{uuid.uuid4().hex[:12]}"
    ensure_database(StoreSettings(url))
    try:
        yield url
    finally:
        drop_database(StoreSettings(url))


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(store_url, tmp_path / "data").start()
    try:
        yield live
    finally:
        live.stop()
