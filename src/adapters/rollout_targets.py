"""The chargers a rollout campaign targets, read from the fleet read model.

Until chargers are assigned to channels one by one, every charger of a family is on the channel ``stable`` (a
campaign for another channel has no targets yet), and every charger's time zone is UTC. The filter narrows the
family to the station ids it lists (``{"station_ids": [...]}``). Read in pages by station id, so planning a
million chargers never holds them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from projections.db import ReadModelDB
from services.rollouts import Target

DEFAULT_CHANNEL = "stable"
PAGE = 5000


class FleetTargets:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterator[Target]:
        if channel != DEFAULT_CHANNEL:
            return
        wanted = set(filter.get("station_ids") or ())
        after = ""
        while True:
            rows = self.db.query(
                "SELECT station_id, firmware_version FROM rm_chargers WHERE hardware_family = %s"
                " AND station_id > %s ORDER BY station_id LIMIT %s",
                (family, after, PAGE),
            )
            for row in rows:
                if not wanted or row["station_id"] in wanted:
                    yield Target(row["station_id"], "UTC", row["firmware_version"])
            if len(rows) < PAGE:
                return
            after = rows[-1]["station_id"]
