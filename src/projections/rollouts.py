"""The rollouts read model: each campaign's decisions, and per campaign and group how many chargers are in each
stage, why those that failed failed, the throughput and an ETA.

The counts are kept as counters (one row per campaign, group and stage), moved by each charger's own events
(every ``FirmwareUpdate`` event names its campaign, group and the stages it moves between), so serving a
campaign's progress reads a few dozen rows whatever its size, and applying an event writes a few rows. One row
per charger (``rm_rollout_chargers``) is the dispatcher's index: the pending and in-flight chargers of a
campaign, found without reading any charger's stream.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

from cloudbay_domain.firmware_update import IN_FLIGHT_STAGES, SETTLED, FirmwareUpdate, Stage
from cloudbay_domain.rollout import RolloutCampaign
from cloudbay_domain.rollout_policy import GroupTally
from projections.db import ReadModelDB, Tx
from projections.follower import tracked_position

CAMPAIGN_COLUMNS = (
    "campaign_id, family, channel, image, policy, state, group_sizes, open_groups, excluded, reason, created_by,"
    " created_at, updated_at, settled, first_settled_at, last_settled_at, version"
)
STATES = {  # the campaign's state after each of its decisions
    RolloutCampaign.Approved: "approved",
    RolloutCampaign.Started: "running",
    RolloutCampaign.Paused: "paused",
    RolloutCampaign.Resumed: "running",
}
SETTLED_STAGES = frozenset(s.value for s in SETTLED)


def failure_kind(reason: str | None) -> str:
    """A failure reason without its particulars (``UnknownVersion: 7.7.7`` counts as ``UnknownVersion``)."""
    return (reason or "unknown").split(":", 1)[0][:100]


class RolloutsProjection:
    name = "rollouts"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_rollouts (campaign_id TEXT PRIMARY KEY, family TEXT NOT NULL,"
            " channel TEXT NOT NULL, image TEXT NOT NULL, policy TEXT NOT NULL, state TEXT NOT NULL,"
            " group_sizes TEXT NOT NULL, open_groups INTEGER NOT NULL, excluded BIGINT NOT NULL, reason TEXT,"
            " created_by TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
            " settled BIGINT NOT NULL, first_settled_at TEXT, last_settled_at TEXT, version INTEGER NOT NULL)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_rollout_counts (campaign_id TEXT NOT NULL, grp INTEGER NOT NULL,"
            " stage TEXT NOT NULL, chargers BIGINT NOT NULL, PRIMARY KEY (campaign_id, grp, stage))"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_rollout_failures (campaign_id TEXT NOT NULL, grp INTEGER NOT NULL,"
            " reason TEXT NOT NULL, chargers BIGINT NOT NULL, PRIMARY KEY (campaign_id, grp, reason))"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_rollout_chargers (update_id TEXT PRIMARY KEY, station_id TEXT NOT NULL,"
            " campaign_id TEXT NOT NULL, grp INTEGER NOT NULL, stage TEXT NOT NULL, time_zone TEXT NOT NULL)"
        )
        tx.execute(
            "CREATE INDEX IF NOT EXISTS rm_rollout_chargers_stage ON rm_rollout_chargers"
            " (campaign_id, stage, grp, station_id)"
        )

    def drop_tables(self, tx: Tx) -> None:
        for table in ("rm_rollout_chargers", "rm_rollout_failures", "rm_rollout_counts", "rm_rollouts"):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not this read model's business."""

    # --- the campaigns' decisions -------------------------------------------------------------

    @apply.register
    def _(self, event: RolloutCampaign.Created, tx: Tx, position: int) -> None:
        at = event.timestamp.isoformat()
        tx.execute(
            f"INSERT INTO rm_rollouts ({CAMPAIGN_COLUMNS}) VALUES"
            " (%s, %s, %s, %s, %s, 'draft', '[]', 0, 0, NULL, %s, %s, %s, 0, NULL, NULL, %s)",
            (
                str(event.originator_id), event.family, event.channel, json.dumps(event.image),
                json.dumps(event.policy), event.created_by, at, at, event.originator_version,
            ),
        )  # fmt: skip

    def _campaign(self, tx: Tx, event: Any, assignments: str, params: tuple[Any, ...] = ()) -> None:
        tx.execute(
            f"UPDATE rm_rollouts SET {assignments}, updated_at = %s, version = %s WHERE campaign_id = %s",
            (*params, event.timestamp.isoformat(), event.originator_version, str(event.originator_id)),
        )

    @apply.register
    def _(self, event: RolloutCampaign.Planned, tx: Tx, position: int) -> None:
        self._campaign(tx, event, "group_sizes = %s, excluded = %s", (json.dumps(event.group_sizes), event.excluded))

    @apply.register(RolloutCampaign.Approved)
    @apply.register(RolloutCampaign.Started)
    @apply.register(RolloutCampaign.Paused)
    @apply.register(RolloutCampaign.Resumed)
    def _state(self, event: Any, tx: Tx, position: int) -> None:
        self._campaign(tx, event, "state = %s", (STATES[type(event)],))

    @apply.register
    def _(self, event: RolloutCampaign.GroupOpened, tx: Tx, position: int) -> None:
        self._campaign(tx, event, "open_groups = %s", (event.group + 1,))

    @apply.register
    def _(self, event: RolloutCampaign.Halted, tx: Tx, position: int) -> None:
        self._campaign(tx, event, "state = 'halted', reason = %s", (event.reason,))

    @apply.register
    def _(self, event: RolloutCampaign.Ended, tx: Tx, position: int) -> None:
        self._campaign(tx, event, "state = %s, reason = %s", (event.state, event.reason))

    # --- each charger's progress -----------------------------------------------------------------

    def _count(self, tx: Tx, campaign_id: str, group: int, stage: str, step: int) -> None:
        tx.execute(
            "INSERT INTO rm_rollout_counts (campaign_id, grp, stage, chargers) VALUES (%s, %s, %s, %s)"
            " ON CONFLICT (campaign_id, grp, stage) DO UPDATE SET chargers = rm_rollout_counts.chargers + %s",
            (campaign_id, group, stage, step, step),
        )

    @apply.register
    def _(self, event: FirmwareUpdate.Enlisted, tx: Tx, position: int) -> None:
        campaign_id = str(event.campaign_id)
        tx.execute(
            "INSERT INTO rm_rollout_chargers (update_id, station_id, campaign_id, grp, stage, time_zone)"
            " VALUES (%s, %s, %s, %s, 'pending', %s) ON CONFLICT (update_id) DO UPDATE SET"
            " campaign_id = excluded.campaign_id, grp = excluded.grp, stage = 'pending',"
            " time_zone = excluded.time_zone",
            (str(event.originator_id), event.station_id, campaign_id, event.group, event.time_zone),
        )
        self._count(tx, campaign_id, event.group, Stage.PENDING.value, 1)

    def _moved(self, tx: Tx, event: Any, stage_from: str, stage_to: str) -> None:
        campaign_id = str(event.campaign_id)
        if stage_from == stage_to:
            return
        self._count(tx, campaign_id, event.group, stage_from, -1)
        self._count(tx, campaign_id, event.group, stage_to, 1)
        tx.execute(
            "UPDATE rm_rollout_chargers SET stage = %s WHERE update_id = %s", (stage_to, str(event.originator_id))
        )
        if stage_to in SETTLED_STAGES and stage_from not in SETTLED_STAGES:
            at = event.timestamp.isoformat()
            tx.execute(
                "UPDATE rm_rollouts SET settled = settled + 1, last_settled_at = %s,"
                " first_settled_at = COALESCE(first_settled_at, %s) WHERE campaign_id = %s",
                (at, at, campaign_id),
            )

    @apply.register
    def _(self, event: FirmwareUpdate.Requested, tx: Tx, position: int) -> None:
        self._moved(tx, event, Stage.PENDING.value, Stage.REQUESTED.value)

    @apply.register
    def _(self, event: FirmwareUpdate.Moved, tx: Tx, position: int) -> None:
        self._moved(tx, event, event.stage_from, event.stage_to)
        if event.stage_to == Stage.FAILED.value and event.stage_from != Stage.FAILED.value:
            tx.execute(
                "INSERT INTO rm_rollout_failures (campaign_id, grp, reason, chargers) VALUES (%s, %s, %s, 1)"
                " ON CONFLICT (campaign_id, grp, reason) DO UPDATE SET chargers = rm_rollout_failures.chargers + 1",
                (str(event.campaign_id), event.group, failure_kind(event.reason)),
            )


class RolloutQueries:
    """The campaigns' progress, for the REST API and for the rollout service (its ``RolloutProgress``)."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def position(self) -> int:
        with self.db.transaction(write=False) as tx:
            return tracked_position(tx, RolloutsProjection.name)

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
