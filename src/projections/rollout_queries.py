"""The rollouts read model's queries: a campaign's progress, the dispatcher's chargers, the list of campaigns."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from uuid import UUID

from cloudbay_domain.firmware_update import IN_FLIGHT_STAGES, Stage
from cloudbay_domain.rollout_policy import GroupTally
from projections.db import ReadModelDB
from projections.follower import tracked_position
from projections.rollouts import CAMPAIGN_COLUMNS, RolloutsProjection


class RolloutQueries:
    """The campaigns' progress, for the REST API and for the rollout service (its ``RolloutProgress``)."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def position(self) -> int:
        with self.db.transaction(write=False) as tx:
            return tracked_position(tx, RolloutsProjection.name)

    def steered(self) -> list[UUID]:
        """The campaigns that run or are paused (whose rounds the platform runs)."""
        rows = self.db.query("SELECT campaign_id FROM rm_rollouts WHERE state IN ('running', 'paused')")
        return [UUID(row["campaign_id"]) for row in rows]

    def _row(self, campaign_id: UUID) -> dict[str, Any] | None:
        rows = self.db.query(f"SELECT {CAMPAIGN_COLUMNS} FROM rm_rollouts WHERE campaign_id = %s", (str(campaign_id),))
        return rows[0] if rows else None

    def _counts(self, campaign_id: UUID, table: str, key: str) -> dict[int, dict[str, int]]:
        found: dict[int, dict[str, int]] = {}
        rows = self.db.query(f"SELECT grp, {key}, chargers FROM {table} WHERE campaign_id = %s", (str(campaign_id),))
        for row in rows:
            if int(row["chargers"]):
                found.setdefault(int(row["grp"]), {})[row[key]] = int(row["chargers"])
        return found

    def tallies(self, campaign_id: UUID) -> list[GroupTally]:
        row = self._row(campaign_id)
        if row is None:
            return []
        counts = self._counts(campaign_id, "rm_rollout_counts", "stage")
        return [group_tally(size, counts.get(group, {})) for group, size in enumerate(json.loads(row["group_sizes"]))]

    def in_flight(self, campaign_id: UUID) -> int:
        return sum(t.in_flight for t in self.tallies(campaign_id))

    def chargers(self, campaign_id: UUID, stages: tuple[str, ...], groups: int, limit: int) -> list[dict[str, Any]]:
        """Chargers of the campaign in one of ``stages`` and in the first ``groups`` groups (station id order)."""
        marks = ", ".join(["%s"] * len(stages))
        return self.db.query(
            "SELECT station_id, grp, stage, time_zone FROM rm_rollout_chargers WHERE campaign_id = %s"
            f" AND stage IN ({marks}) AND grp < %s ORDER BY grp, station_id LIMIT %s",
            (str(campaign_id), *stages, groups, limit),
        )

    def previous_versions(self, campaign_id: UUID) -> dict[str | None, int]:
        """The campaign's chargers that succeeded, counted by the version they ran before (for a roll-back)."""
        rows = self.db.query(
            "SELECT previous_version, COUNT(*) AS chargers FROM rm_rollout_chargers WHERE campaign_id = %s"
            " AND stage = 'succeeded' GROUP BY previous_version",
            (str(campaign_id),),
        )
        return {row["previous_version"]: int(row["chargers"]) for row in rows}

    def page(self, state: str | None, family: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        return campaign_page(self.db, state, family, after, limit)

    def progress(self, campaign_id: UUID) -> dict[str, Any] | None:
        """The campaign as served: its decisions, and per group the chargers per stage and the failures."""
        row = self._row(campaign_id)
        if row is None:
            return None
        counts = self._counts(campaign_id, "rm_rollout_counts", "stage")
        failures = self._counts(campaign_id, "rm_rollout_failures", "reason")
        groups = []
        for group, size in enumerate(json.loads(row["group_sizes"])):
            stages = {stage.value: counts.get(group, {}).get(stage.value, 0) for stage in Stage}
            groups.append({"group": group, "size": size, "stages": stages, "failures": failures.get(group, {})})
        return {**campaign_view(row), "groups": groups}


def group_tally(size: int, stages: dict[str, int]) -> GroupTally:
    return GroupTally(
        size=size,
        succeeded=stages.get(Stage.SUCCEEDED.value, 0),
        failed=stages.get(Stage.FAILED.value, 0),
        in_flight=sum(stages.get(s, 0) for s in IN_FLIGHT_STAGES),
    )


def campaign_view(row: dict[str, Any]) -> dict[str, Any]:
    """A campaign row with its JSON read, its throughput (chargers settled per second) and ETA (seconds)."""
    sizes = json.loads(row["group_sizes"])
    targets, settled = sum(sizes), int(row["settled"])
    throughput = eta = None
    if row["first_settled_at"] and row["last_settled_at"] and settled > 1:
        span = datetime.fromisoformat(row["last_settled_at"]) - datetime.fromisoformat(row["first_settled_at"])
        if span.total_seconds() > 0:
            throughput = settled / span.total_seconds()
            eta = (targets - settled) / throughput
    return {
        **{k: row[k] for k in ("campaign_id", "family", "channel", "state", "open_groups", "reason", "created_by")},
        **{k: row[k] for k in ("created_at", "updated_at", "version")},
        "image": json.loads(row["image"]),
        "policy": json.loads(row["policy"]),
        "targets": targets,
        "excluded": int(row["excluded"]),
        "settled": settled,
        "throughput": throughput,
        "eta_seconds": eta,
    }


def campaign_page(
    db: ReadModelDB, state: str | None, family: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    """Up to ``limit`` campaigns, newest first, after the cursor ``after`` (``created_at|campaign_id``)."""
    where, params = ["1 = 1"], []
    for column, value in (("state", state), ("family", family)):
        if value:
            where.append(f"{column} = %s")
            params.append(value)
    if after and "|" in after:
        at, campaign_id = after.split("|", 1)
        where.append("(created_at < %s OR (created_at = %s AND campaign_id < %s))")
        params += [at, at, campaign_id]
    rows = db.query(
        f"SELECT {CAMPAIGN_COLUMNS} FROM rm_rollouts WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, campaign_id DESC LIMIT %s",
        (*params, limit),
    )
    return [{**campaign_view(row), "cursor": f"{row['created_at']}|{row['campaign_id']}"} for row in rows]
