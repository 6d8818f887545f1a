"""The firmware images read model: every uploaded image, for the list (newest first, by family)."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.firmware_image import FirmwareImage
from projections.db import ReadModelDB, Tx

SHOWN = ("family", "minimum_version", "release_notes", "sha256", "size", "signed_by", "signature",
         "signing_certificate", "uploaded_by")  # fmt: skip


class FirmwareImagesProjection:
    name = "firmware_images"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_firmware_images (image_id TEXT PRIMARY KEY, family TEXT NOT NULL,"
            " uploaded_at TEXT NOT NULL, image TEXT NOT NULL)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_firmware_images_at ON rm_firmware_images (uploaded_at, image_id)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_firmware_images")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not this read model's business."""

    @apply.register
    def _(self, event: FirmwareImage.Uploaded, tx: Tx, position: int) -> None:
        image = {"image_id": str(event.originator_id), "version": event.firmware_version,
                 **{k: getattr(event, k) for k in SHOWN}}  # fmt: skip
        tx.execute(
            "INSERT INTO rm_firmware_images (image_id, family, uploaded_at, image) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (image_id) DO NOTHING",
            (str(event.originator_id), event.family, event.timestamp.isoformat(), json.dumps(image)),
        )


class FirmwareImageQueries:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def page(self, family: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` images, newest first, after the cursor ``after`` (``uploaded_at|image_id``)."""
        where, params = ["1 = 1"], []
        if family:
            where.append("family = %s")
            params.append(family)
        if after and "|" in after:
            at, image_id = after.split("|", 1)
            where.append("(uploaded_at < %s OR (uploaded_at = %s AND image_id < %s))")
            params += [at, at, image_id]
        rows = self.db.query(
            f"SELECT image_id, uploaded_at, image FROM rm_firmware_images WHERE {' AND '.join(where)}"
            " ORDER BY uploaded_at DESC, image_id DESC LIMIT %s",
            (*params, limit),
        )
        return [{"cursor": f"{r['uploaded_at']}|{r['image_id']}", "image": json.loads(r["image"])} for r in rows]
