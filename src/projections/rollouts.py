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

    # --- each charger's progress: buffered within a batch, written by ``flush`` ------------------------

    def __init__(self) -> None:
        self.begin()

    def begin(self) -> None:
        self._counts: dict[tuple[str, int, str], int] = {}
        self._failures: dict[tuple[str, int, str], int] = {}
        self._chargers: dict[str, tuple[str, str, int, str, str]] = {}  # update id → its row (stage updated)
        self._settled: dict[str, tuple[int, str, str]] = {}  # campaign → (settled, first at, last at)

    def _count(self, campaign_id: str, group: int, stage: str, step: int) -> None:
        key = (campaign_id, group, stage)
        self._counts[key] = self._counts.get(key, 0) + step

    @apply.register(FirmwareUpdate.Opened)
    @apply.register(FirmwareUpdate.Enlisted)
    def _enlisted(self, event: Any, tx: Tx, position: int) -> None:
        campaign_id = str(event.campaign_id)
        row = (event.station_id, campaign_id, event.group, Stage.PENDING.value, event.time_zone)
        self._chargers[str(event.originator_id)] = row
        self._count(campaign_id, event.group, Stage.PENDING.value, 1)

    def _moved(self, event: Any, stage_from: str, stage_to: str) -> None:
        campaign_id, update_id = str(event.campaign_id), str(event.originator_id)
        if stage_from == stage_to:
            return
        self._count(campaign_id, event.group, stage_from, -1)
        self._count(campaign_id, event.group, stage_to, 1)
        # a stage-only row (no station, campaign, zone) is never inserted: the update's row exists by now
        station, campaign, group, _, zone = self._chargers.get(update_id, ("", campaign_id, event.group, "", ""))
        self._chargers[update_id] = (station, campaign, group, stage_to, zone)
        if stage_to in SETTLED_STAGES and stage_from not in SETTLED_STAGES:
            at = event.timestamp.isoformat()
            count, first, _ = self._settled.get(campaign_id, (0, at, at))
            self._settled[campaign_id] = (count + 1, first, at)

    @apply.register
    def _(self, event: FirmwareUpdate.Requested, tx: Tx, position: int) -> None:
        self._moved(event, Stage.PENDING.value, Stage.REQUESTED.value)

    @apply.register
    def _(self, event: FirmwareUpdate.Moved, tx: Tx, position: int) -> None:
        self._moved(event, event.stage_from, event.stage_to)
        if event.stage_to == Stage.FAILED.value and event.stage_from != Stage.FAILED.value:
            key = (str(event.campaign_id), event.group, failure_kind(event.reason))
            self._failures[key] = self._failures.get(key, 0) + 1

    def flush(self, tx: Tx) -> None:
        """Write the batch's counts and chargers: a few multi-row statements, whatever the batch's size."""
        counts = [(*key, n) for key, n in self._counts.items() if n]
        upsert_rows(tx, "rm_rollout_counts (campaign_id, grp, stage, chargers)", "campaign_id, grp, stage",
                    "chargers = rm_rollout_counts.chargers + excluded.chargers", counts)  # fmt: skip
        failures = [(*key, n) for key, n in self._failures.items()]
        upsert_rows(tx, "rm_rollout_failures (campaign_id, grp, reason, chargers)", "campaign_id, grp, reason",
                    "chargers = rm_rollout_failures.chargers + excluded.chargers", failures)  # fmt: skip
        rows = [(update_id, *row) for update_id, row in self._chargers.items()]
        upsert_rows(tx, "rm_rollout_chargers (update_id, station_id, campaign_id, grp, stage, time_zone)",
                    "update_id", "campaign_id = excluded.campaign_id, grp = excluded.grp, stage = excluded.stage,"
                    " time_zone = CASE WHEN excluded.station_id = '' THEN rm_rollout_chargers.time_zone"
                    " ELSE excluded.time_zone END", rows)  # fmt: skip
        for campaign_id, (count, first, last) in self._settled.items():
            tx.execute(
                "UPDATE rm_rollouts SET settled = settled + %s, last_settled_at = %s,"
                " first_settled_at = COALESCE(first_settled_at, %s) WHERE campaign_id = %s",
                (count, last, first, campaign_id),
            )
        self.begin()


def upsert_rows(tx: Tx, into: str, key: str, update: str, rows: list[tuple[Any, ...]], chunk: int = 500) -> None:
    """``INSERT INTO into VALUES rows ON CONFLICT (key) DO UPDATE SET update``, ``chunk`` rows a statement."""
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        marks = ", ".join(["(" + ", ".join(["%s"] * len(part[0])) + ")"] * len(part))
        params = [value for row in part for value in row]
        tx.execute(f"INSERT INTO {into} VALUES {marks} ON CONFLICT ({key}) DO UPDATE SET {update}", params)


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
