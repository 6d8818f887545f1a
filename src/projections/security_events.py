"""The security events read model: every charger's security events (sent by it, or the platform's own), in the
order they were stored; the event's position in the log is its cursor."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.security import SecurityEvent
from projections.db import ReadModelDB, Tx

COLUMNS = "position, station_id, origin, kind, occurred_at, tech_info, count, first_at, last_at, recorded_at"


class SecurityEventsProjection:
    name = "security_events"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_security_events ("
            " position BIGINT PRIMARY KEY, station_id TEXT NOT NULL, origin TEXT NOT NULL, kind TEXT NOT NULL,"
            " occurred_at TEXT NOT NULL, tech_info TEXT, count INTEGER NOT NULL, first_at TEXT NOT NULL,"
            " last_at TEXT NOT NULL, recorded_at TEXT NOT NULL)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_security_events_station ON rm_security_events (station_id, position)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_security_events")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not this read model's business."""

    @apply.register
    def _(self, event: SecurityEvent.Recorded, tx: Tx, position: int) -> None:
        tx.execute(
            f"INSERT INTO rm_security_events ({COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                position,
                event.station_id,
                event.origin,
                event.kind,
                event.occurred_at,
                event.tech_info,
                event.count,
                event.first_at,
                event.last_at,
                event.timestamp.isoformat(),
            ),
        )


class SecurityEventQueries:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list(self, *, station_id: str | None, after: int | None, limit: int) -> list[dict[str, Any]]:
        """Oldest first: the events after position ``after``, of one charger or of the fleet."""
        where, params = "position > %s", [after or 0]
        if station_id is not None:
            where += " AND station_id = %s"
            params.append(station_id)  # type: ignore[arg-type]
        return self.db.query(
            f"SELECT {COLUMNS} FROM rm_security_events WHERE {where} ORDER BY position LIMIT %s", [*params, limit]
        )
