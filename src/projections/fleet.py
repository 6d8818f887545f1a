"""The fleet read model: per charger its identity, presence, last boot, firmware, time zone and connector
status."""

from __future__ import annotations

from datetime import datetime
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.charger import Charger
from cloudbay_domain.device import WHITELISTED, Device
from cloudbay_domain.firmware_channel import ChannelMembership
from cloudbay_domain.pricing import ChargerTariff
from projections.db import ReadModelDB, Tx, add_missing_columns

CHARGER_COLUMNS = (
    "station_id, charger_id, hardware_family, presence, node, whitelisted_at, last_seen, "
    "last_boot_at, boot_reason, boot_count, vendor, model, serial_number, firmware_version, "
    "periodic_event_reports, data_transfers, version, state, mac_address, batch_id"
)
# columns added after the first version: an existing table gets them (whitelisted by hand: no MAC, no batch)
PRODUCTION_COLUMNS = {
    "state": f"TEXT NOT NULL DEFAULT '{WHITELISTED}'",
    "mac_address": "TEXT",
    "batch_id": "TEXT",
    "device_id": "TEXT",
}
# the firmware channel operators put the charger on (docs/firmware.md); none: ``stable`` of its own family
FIRMWARE_COLUMNS = {"firmware_family": "TEXT", "firmware_channel": "TEXT"}
# the time zone its owner's tariff states (``ChargerTariff``, whose stream ``tariff_id`` names); none: no tariff
TARIFF_COLUMNS = {"tariff_id": "TEXT", "time_zone": "TEXT"}
ADDED_COLUMNS = {**PRODUCTION_COLUMNS, **FIRMWARE_COLUMNS, **TARIFF_COLUMNS}


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class FleetProjection:
    """Handles the Charger events; one table per chargers and per connectors."""

    name = "fleet"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_chargers ("
            " station_id TEXT PRIMARY KEY, charger_id TEXT NOT NULL UNIQUE, hardware_family TEXT NOT NULL,"
            " presence TEXT NOT NULL, node TEXT, whitelisted_at TEXT NOT NULL, last_seen TEXT,"
            " last_boot_at TEXT, boot_reason TEXT, boot_count INTEGER NOT NULL DEFAULT 0,"
            " vendor TEXT, model TEXT, serial_number TEXT, firmware_version TEXT,"
            " periodic_event_reports INTEGER NOT NULL DEFAULT 0, data_transfers INTEGER NOT NULL DEFAULT 0,"
            " version INTEGER NOT NULL,"
            f" {', '.join(f'{name} {ddl}' for name, ddl in ADDED_COLUMNS.items())})"
        )
        add_missing_columns(tx, "rm_chargers", ADDED_COLUMNS)
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_connectors ("
            " station_id TEXT NOT NULL, evse_id INTEGER NOT NULL, connector_id INTEGER NOT NULL,"
            " status TEXT NOT NULL, reported_at TEXT NOT NULL, before_boot INTEGER NOT NULL,"
            " PRIMARY KEY (station_id, evse_id, connector_id))"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_chargers_presence ON rm_chargers (presence, station_id)")
        tx.execute("CREATE INDEX IF NOT EXISTS rm_chargers_state ON rm_chargers (state, station_id)")
        tx.execute("CREATE INDEX IF NOT EXISTS rm_chargers_mac ON rm_chargers (mac_address)")
        tx.execute("CREATE INDEX IF NOT EXISTS rm_chargers_device ON rm_chargers (device_id)")
        tx.execute("CREATE INDEX IF NOT EXISTS rm_chargers_tariff ON rm_chargers (tariff_id)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_connectors")
        tx.execute("DROP TABLE IF EXISTS rm_chargers")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Events of other aggregates are not the fleet's business."""

    def _touch(self, tx: Tx, event: Charger.Event, **columns: Any) -> None:
        sets = ", ".join(f"{name} = %s" for name in columns)
        tx.execute(
            f"UPDATE rm_chargers SET {sets}{', ' if sets else ''}last_seen = %s, version = %s WHERE charger_id = %s",
            (*columns.values(), iso(event.timestamp), event.originator_version, str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Charger.Whitelisted, tx: Tx, position: int) -> None:
        tx.execute(
            "INSERT INTO rm_chargers (station_id, charger_id, hardware_family, presence, whitelisted_at, version)"
            " VALUES (%s, %s, %s, 'offline', %s, %s)",
            (
                event.station_id,
                str(event.originator_id),
                event.hardware_family,
                iso(event.timestamp),
                event.originator_version,
            ),
        )

    @apply.register(ChannelMembership.Joined)
    @apply.register(ChannelMembership.Moved)
    def _channel(self, event: Any, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET firmware_family = %s, firmware_channel = %s WHERE station_id = %s",
            (event.family, event.channel, event.station_id),
        )

    @apply.register
    def _(self, event: ChargerTariff.Created, tx: Tx, position: int) -> None:
        """A charger's first tariff (a charger is whitelisted before it may have one)."""
        tx.execute(
            "UPDATE rm_chargers SET tariff_id = %s WHERE station_id = %s", (str(event.originator_id), event.station_id)
        )

    @apply.register
    def _(self, event: ChargerTariff.TariffSet, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET time_zone = %s WHERE tariff_id = %s",
            (event.tariff.get("time_zone"), str(event.originator_id)),
        )

    @apply.register
    def _(self, event: Charger.Connected, tx: Tx, position: int) -> None:
        self._touch(tx, event, presence="online", node=event.node)

    @apply.register
    def _(self, event: Charger.Disconnected, tx: Tx, position: int) -> None:
        self._touch(tx, event, presence="offline", node=None)

    @apply.register
    def _(self, event: Charger.Booted, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET boot_count = boot_count + 1 WHERE charger_id = %s", (str(event.originator_id),)
        )
        self._touch(
            tx,
            event,
            last_boot_at=iso(event.reported_at),
            boot_reason=event.reason,
            vendor=event.vendor,
            model=event.model,
            serial_number=event.serial_number,
            firmware_version=event.firmware_version,
        )

    @apply.register
    def _(self, event: Charger.ConnectorStatusChanged, tx: Tx, position: int) -> None:
        tx.execute(
            "INSERT INTO rm_connectors (station_id, evse_id, connector_id, status, reported_at, before_boot)"
            " SELECT station_id, %s, %s, %s, %s, %s FROM rm_chargers WHERE charger_id = %s"
            " ON CONFLICT (station_id, evse_id, connector_id) DO UPDATE SET status = excluded.status,"
            " reported_at = excluded.reported_at, before_boot = excluded.before_boot",
            (
                event.evse_id,
                event.connector_id,
                event.status,
                iso(event.reported_at),
                int(event.before_boot),
                str(event.originator_id),
            ),
        )
        self._touch(tx, event)

    @apply.register
    def _(self, event: Charger.PeriodicEventsReported, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET periodic_event_reports = periodic_event_reports + 1 WHERE charger_id = %s",
            (str(event.originator_id),),
        )
        self._touch(tx, event)

    @apply.register
    def _(self, event: Charger.DataTransferred, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET data_transfers = data_transfers + 1 WHERE charger_id = %s",
            (str(event.originator_id),),
        )
        self._touch(tx, event)

    @apply.register
    def _(self, event: Device.Manufactured, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_chargers SET state = %s, mac_address = %s, batch_id = %s, device_id = %s WHERE station_id = %s",
            ("manufactured", event.mac_address, event.batch_id, str(event.originator_id), event.station_id),
        )

    @apply.register
    def _(self, event: Device.StateChanged, tx: Tx, position: int) -> None:
        tx.execute("UPDATE rm_chargers SET state = %s WHERE device_id = %s", (event.state_to, str(event.originator_id)))


class FleetQueries:
    """Read-only queries over the fleet read model (what dashboards call)."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list_chargers(
        self,
        *,
        presence: str | None,
        status: str | None,
        family: str | None,
        after: str | None,
        limit: int,
        state: str | None = None,
        mac: str | None = None,
    ) -> list[dict[str, Any]]:
        where, params = ["1 = 1"], []
        for column, value in (
            ("presence", presence),
            ("hardware_family", family),
            ("state", state),
            ("mac_address", mac),
        ):
            if value:
                where.append(f"c.{column} = %s")
                params.append(value)
        if status:
            where.append("EXISTS (SELECT 1 FROM rm_connectors k WHERE k.station_id = c.station_id AND k.status = %s)")
            params.append(status)
        if after:
            where.append("c.station_id > %s")
            params.append(after)
        rows = self.db.query(
            f"SELECT {CHARGER_COLUMNS} FROM rm_chargers c WHERE {' AND '.join(where)} ORDER BY c.station_id LIMIT %s",
            (*params, limit),
        )
        return self._with_connectors(rows)

    def get_charger(self, station_id: str) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {CHARGER_COLUMNS} FROM rm_chargers WHERE station_id = %s", (station_id,))
        return self._with_connectors(rows)[0] if rows else None

    def _with_connectors(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if not rows:
            return rows
        marks = ", ".join(["%s"] * len(rows))
        connectors = self.db.query(
            "SELECT station_id, evse_id, connector_id, status, reported_at, before_boot FROM rm_connectors"
            f" WHERE station_id IN ({marks}) ORDER BY station_id, evse_id, connector_id",
            [r["station_id"] for r in rows],
        )
        by_station: dict[str, list[dict[str, Any]]] = {}
        for c in connectors:
            by_station.setdefault(c.pop("station_id"), []).append({**c, "before_boot": bool(c["before_boot"])})
        for r in rows:
            r["connectors"] = by_station.get(r["station_id"], [])
        return rows

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the read model, in a stable order (to compare live with rebuilt)."""
        return {
            "chargers": self.db.query(
                f"SELECT {CHARGER_COLUMNS}, {', '.join(TARIFF_COLUMNS)} FROM rm_chargers ORDER BY station_id"
            ),
            "connectors": self.db.query("SELECT * FROM rm_connectors ORDER BY station_id, evse_id, connector_id"),
        }
