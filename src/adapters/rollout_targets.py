"""The chargers a rollout campaign targets, and the chargers a channel assignment's filter matches, read from the
fleet read model.

A charger follows the channel and family operators assigned it (``ChannelMembership``, kept on its fleet row),
else ``stable`` of its own hardware family. A filter narrows by hardware family, production batch, vendor,
model and a list of station ids; a roll-back's filter (``rollback_of``, ``previous_version``) names the chargers
of a campaign that updated from that version. A charger's time zone is the one its tariff states, UTC for a
charger without a tariff (a re-install keeps the one its charger had in the rolled-back campaign). Read in
pages by station id, so neither planning nor an assignment over a million chargers ever holds them all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from cloudbay_domain.firmware_channel import DEFAULT_CHANNEL
from projections.db import ReadModelDB
from services.rollouts import Target

PAGE = 5000
ID_CHUNK = 500
COLUMNS = {"hardware_family": "hardware_family", "batch_id": "batch_id", "vendor": "vendor", "model": "model"}


def _conditions(filter: dict[str, Any]) -> tuple[list[str], list[Any], set[str]]:
    where, params = [], []
    for key, column in COLUMNS.items():
        if filter.get(key) is not None:
            where.append(f"{column} = %s")
            params.append(filter[key])
    return where, params, set(filter.get("station_ids") or ())


class FleetTargets:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def _rows(self, sql: str, where: list[str], params: list[Any], wanted: set[str]) -> Iterator[dict[str, Any]]:
        """The rows ``where`` matches; with ``wanted``, only those station ids (looked up by id, not scanned)."""
        if not wanted:
            yield from self._pages(sql, where, params)
            return
        ids = sorted(wanted)
        for start in range(0, len(ids), ID_CHUNK):
            chunk = ids[start : start + ID_CHUNK]
            clause = " AND ".join([*where, f"station_id IN ({', '.join(['%s'] * len(chunk))})"])
            yield from self.db.query(f"{sql} WHERE {clause} ORDER BY station_id", (*params, *chunk))

    def _pages(self, sql: str, where: list[str], params: list[Any]) -> Iterator[dict[str, Any]]:
        after = ""
        while True:
            clause = " AND ".join([*where, "station_id > %s"])
            rows = self.db.query(f"{sql} WHERE {clause} ORDER BY station_id LIMIT %s", (*params, after, PAGE))
            yield from rows
            if len(rows) < PAGE:
                return
            after = rows[-1]["station_id"]

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterator[Target]:
        if filter.get("rollback_of"):
            yield from self._reverted(filter["rollback_of"], filter.get("previous_version"), filter.get("from_version"))
            return
        where, params, wanted = _conditions(filter)
        where += ["COALESCE(firmware_family, hardware_family) = %s", "COALESCE(firmware_channel, %s) = %s"]
        params += [family, DEFAULT_CHANNEL, channel]
        sql = "SELECT station_id, firmware_version, COALESCE(time_zone, 'UTC') AS time_zone FROM rm_chargers"
        for row in self._rows(sql, where, params, wanted):
            yield Target(row["station_id"], row["time_zone"], row["firmware_version"])

    def _reverted(self, campaign_id: str, version: str | None, from_version: str | None) -> Iterator[Target]:
        """The chargers of campaign ``campaign_id`` that updated (from ``version`` to ``from_version``)."""
        sql = "SELECT station_id, time_zone FROM rm_rollout_chargers"
        where = ["campaign_id = %s", "stage = 'succeeded'", "previous_version = %s"]
        for row in self._pages(sql, where, [campaign_id, version]):
            yield Target(row["station_id"], row["time_zone"], from_version)

    def matching(self, filter: dict[str, Any]) -> Iterator[tuple[str, str]]:
        where, params, wanted = _conditions(filter)
        sql = "SELECT station_id, hardware_family FROM rm_chargers"
        for row in self._rows(sql, where or ["1 = 1"], params, wanted):
            yield row["station_id"], row["hardware_family"]
