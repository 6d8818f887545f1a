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
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.firmware_update import SETTLED, FirmwareUpdate, Stage
from cloudbay_domain.rollout import RolloutCampaign
from projections.db import Tx, add_missing_columns

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
            " campaign_id TEXT NOT NULL, grp INTEGER NOT NULL, stage TEXT NOT NULL, time_zone TEXT NOT NULL,"
            " previous_version TEXT)"
        )
        add_missing_columns(tx, "rm_rollout_chargers", {"previous_version": "TEXT"})
        add_missing_columns(tx, "rm_rollouts", {"skipped": "TEXT"})
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
        sizes, skipped = json.dumps(event.group_sizes), json.dumps(getattr(event, "skipped", None) or {})
        self._campaign(tx, event, "group_sizes = %s, excluded = %s, skipped = %s", (sizes, event.excluded, skipped))

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
        self._chargers: dict[str, tuple[str, str, int, str, str, str | None]] = {}  # update id → its row
        self._settled: dict[str, tuple[int, str, str]] = {}  # campaign → (settled, first at, last at)

    def _count(self, campaign_id: str, group: int, stage: str, step: int) -> None:
        key = (campaign_id, group, stage)
        self._counts[key] = self._counts.get(key, 0) + step

    @apply.register(FirmwareUpdate.Opened)
    @apply.register(FirmwareUpdate.Enlisted)
    def _enlisted(self, event: Any, tx: Tx, position: int) -> None:
        campaign_id = str(event.campaign_id)
        row = (event.station_id, campaign_id, event.group, Stage.PENDING.value, event.time_zone, event.previous_version)
        self._chargers[str(event.originator_id)] = row
        self._count(campaign_id, event.group, Stage.PENDING.value, 1)

    def _moved(self, event: Any, stage_from: str, stage_to: str) -> None:
        campaign_id, update_id = str(event.campaign_id), str(event.originator_id)
        if stage_from == stage_to:
            return
        self._count(campaign_id, event.group, stage_from, -1)
        self._count(campaign_id, event.group, stage_to, 1)
        # a stage-only row (no station, campaign, zone) is never inserted: the update's row exists by now
        station, campaign, group, _, zone, before = self._chargers.get(
            update_id, ("", campaign_id, event.group, "", "", None)
        )
        self._chargers[update_id] = (station, campaign, group, stage_to, zone, before)
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
        kept = "CASE WHEN excluded.station_id = '' THEN rm_rollout_chargers.{0} ELSE excluded.{0} END"
        upsert_rows(tx, "rm_rollout_chargers (update_id, station_id, campaign_id, grp, stage, time_zone,"
                    " previous_version)", "update_id", "campaign_id = excluded.campaign_id, grp = excluded.grp,"
                    f" stage = excluded.stage, time_zone = {kept.format('time_zone')},"
                    f" previous_version = {kept.format('previous_version')}", rows)  # fmt: skip
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
