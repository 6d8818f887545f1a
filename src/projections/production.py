"""The production read model: each imported batch, and how many of its devices are in each pipeline state."""

from __future__ import annotations

import json
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.batch import ProductionBatch
from cloudbay_domain.device import Device, DeviceState
from cloudbay_domain.mac import format_mac
from projections.db import ReadModelDB, Tx

BATCH_COLUMNS = "batch_id, hardware_family, model, devices, mac_ranges, key_id, imported_by, imported_at, version"


def mac_ranges(ranges: list[list[int]]) -> list[dict[str, Any]]:
    return [
        {"first": format_mac(first), "last": format_mac(first + count - 1), "count": count} for first, count in ranges
    ]


class ProductionProjection:
    name = "production"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_production_batches ("
            " batch_id TEXT PRIMARY KEY, aggregate_id TEXT NOT NULL UNIQUE, hardware_family TEXT NOT NULL,"
            " model TEXT NOT NULL, devices INTEGER NOT NULL, mac_ranges TEXT NOT NULL, key_id TEXT NOT NULL,"
            " imported_by TEXT NOT NULL,"
            " imported_at TEXT NOT NULL, version INTEGER NOT NULL)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_production_states ("
            " batch_id TEXT NOT NULL, state TEXT NOT NULL, devices INTEGER NOT NULL, PRIMARY KEY (batch_id, state))"
        )
        # which batch a device is of, for its later events (they carry the device's id only)
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_production_devices (device_id TEXT PRIMARY KEY, batch_id TEXT NOT NULL)"
        )

    def drop_tables(self, tx: Tx) -> None:
        for table in ("rm_production_devices", "rm_production_states", "rm_production_batches"):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not production's business."""

    @apply.register
    def _(self, event: ProductionBatch.Imported, tx: Tx, position: int) -> None:
        tx.execute(
            f"INSERT INTO rm_production_batches (aggregate_id, {BATCH_COLUMNS})"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                str(event.originator_id),
                event.batch_id,
                event.hardware_family,
                event.model,
                len(event.devices),
                json.dumps(mac_ranges(event.mac_ranges)),
                event.key_id,
                event.imported_by,
                event.timestamp.isoformat(),
                event.originator_version,
            ),
        )

    @apply.register
    def _(self, event: ProductionBatch.DocumentIssued, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_production_batches SET version = %s WHERE aggregate_id = %s",
            (event.originator_version, str(event.originator_id)),
        )

    def _count(self, tx: Tx, batch_id: str, state: str, step: int) -> None:
        tx.execute(
            "INSERT INTO rm_production_states (batch_id, state, devices) VALUES (%s, %s, %s)"
            " ON CONFLICT (batch_id, state) DO UPDATE SET devices = rm_production_states.devices + excluded.devices",
            (batch_id, state, step),
        )

    @apply.register
    def _(self, event: Device.Manufactured, tx: Tx, position: int) -> None:
        tx.execute(
            "INSERT INTO rm_production_devices (device_id, batch_id) VALUES (%s, %s)",
            (str(event.originator_id), event.batch_id),
        )
        self._count(tx, event.batch_id, DeviceState.MANUFACTURED.value, 1)

    @apply.register
    def _(self, event: Device.StateChanged, tx: Tx, position: int) -> None:
        rows = tx.fetchall(
            "SELECT batch_id FROM rm_production_devices WHERE device_id = %s", (str(event.originator_id),)
        )
        if rows:
            self._count(tx, rows[0]["batch_id"], event.state_from, -1)
            self._count(tx, rows[0]["batch_id"], event.state_to, 1)


class ProductionQueries:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list_batches(self, *, after: str | None, limit: int) -> list[dict[str, Any]]:
        rows = self.db.query(
            f"SELECT {BATCH_COLUMNS} FROM rm_production_batches WHERE batch_id > %s ORDER BY batch_id LIMIT %s",
            (after or "", limit),
        )
        return self._with_counts(rows)

    def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {BATCH_COLUMNS} FROM rm_production_batches WHERE batch_id = %s", (batch_id,))
        return self._with_counts(rows)[0] if rows else None

    def _with_counts(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return rows
        marks = ", ".join(["%s"] * len(rows))
        counts = self.db.query(
            f"SELECT batch_id, state, devices FROM rm_production_states WHERE batch_id IN ({marks})",
            [r["batch_id"] for r in rows],
        )
        by_batch: dict[str, dict[str, int]] = {
            r["batch_id"]: dict.fromkeys((s.value for s in DeviceState), 0) for r in rows
        }
        for c in counts:
            by_batch[c["batch_id"]][c["state"]] = int(c["devices"])
        return [{**r, "mac_ranges": json.loads(r["mac_ranges"]), "states": by_batch[r["batch_id"]]} for r in rows]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "batches": self.db.query(f"SELECT {BATCH_COLUMNS} FROM rm_production_batches ORDER BY batch_id"),
            "states": self.db.query("SELECT * FROM rm_production_states ORDER BY batch_id, state"),
        }
