"""Manufacturing test helpers: batches, decoding QR codes and label sheets, the stores' raw bytes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
import psycopg
import zxingcpp
from PIL import Image
from pypdf import PdfReader

from cloudbay_domain.codes import read_payload
from tests.support import LiveServer

BLOCK = "02:00:00:00:00:00/24"


def batch(batch_id: str | None, serials: list[str], **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"hardware_family": "home-22kw", "model": "CB-Home-22", **fields}
    body["devices"] = [{"serial_number": s} for s in serials]
    if batch_id is not None:
        body["batch_id"] = batch_id
    return body


def decode_png(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def decode_pdf(pdf: bytes) -> list[str]:
    """Every QR code of every image of every page of a PDF, in page order."""
    found: list[str] = []
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            found.extend(result.text for result in zxingcpp.read_barcodes(image.image))
    return found


def box_payload(http: httpx.Client, station_id: str) -> str:
    (payload,) = decode_png(http.get(f"/api/v1/chargers/{station_id}/labels/box.png").content)
    return payload


def code_of(payload: str) -> str:
    read = read_payload(payload)
    assert read is not None, payload
    return read[2]


def raw_store_bytes(server: LiveServer) -> bytes:
    """Everything the event store and the read models hold, as stored: SQLite files, or PostgreSQL rows."""
    settings = server.settings.store
    if settings.kind == "sqlite":
        paths = [settings.sqlite_path, settings.sqlite_read_model_path]
        files = [Path(f"{p}{suffix}") for p in paths for suffix in ("", "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    params = settings.postgres_params()
    conninfo = " ".join(f"{k}={v}" for k, v in params.items() if v)
    with psycopg.connect(conninfo) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")]
        chunks: list[bytes] = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):
                chunks.extend(bytes(v) if isinstance(v, bytes | memoryview) else str(v).encode() for v in row)
        return b"\n".join(chunks)
