"""Running campaigns: the platform's decisions on the counts, UpdateFirmware to the chargers chosen, silence.

``tick`` is one round for a campaign: ``review`` (halt on a group's error threshold, promote on the success
threshold, complete), ``expire_silent`` (an update in flight that went quiet fails), ``dispatch`` (UpdateFirmware
to the chargers ``cloudbay_domain.rollout_dispatch.choose`` picks). ``charger_back`` is the same choice for one
charger that (re)connects, so an offline charger is updated when it returns, within the campaign's windows.

Each UpdateFirmware is reserved on the charger's stream (``FirmwareUpdate.Requested``) before it is sent: two
dispatchers racing for a charger cannot both send. The chargers in flight are the read model's count plus the
ones this process reserved since the read model's position, so the limit holds while the read model lags.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cloudbay_domain.charger import Charger
from cloudbay_domain.firmware_image import BELOW_MINIMUM, below_minimum
from cloudbay_domain.firmware_update import (
    ACCEPTED_ANSWERS,
    IN_FLIGHT_STAGES,
    STATUS_STAGE,
    FirmwareUpdate,
    Outcome,
    Stage,
)
from cloudbay_domain.rollout import RolloutCampaign
from cloudbay_domain.rollout_dispatch import Candidate, choose, free_slots
from services.firmware_rule import outstanding_update
from services.ports import ChargerLink, LinkError, UpdateFirmware
from services.rollouts import RolloutProgress, Rollouts, UnknownCampaign
from services.store import EventLog

log = logging.getLogger("cloudbay.rollouts")
Runner = Callable[..., Awaitable[Any]]
CANDIDATES_PER_SLOT = 4  # pending chargers read per free slot (some are offline, busy or outside a window)
SILENT_BATCH = 1000
NUDGE_SECONDS = 0.5  # a settled charger's campaign gets a round this soon (settlements meanwhile share it)


class RolloutDispatcher:
    def __init__(
        self, rollouts: Rollouts, link: ChargerLink, run: Runner, progress: RolloutProgress,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:  # fmt: skip
        self.rollouts, self.link, self.run, self.progress, self.clock = rollouts, link, run, progress, clock
        self.log: EventLog = rollouts.log
        self._reserved: dict[UUID, dict[str, int]] = {}  # campaign → station → log head after its reservation
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._nudged: set[UUID] = set()  # campaigns with a round coming (``nudge``)

    def review(self, campaign_id: UUID) -> str | None:
        """The platform's decision on the read model's counts: halted, promoted, completed or None."""
        tallies = self.progress.tallies(campaign_id)
        missing = UnknownCampaign(f"no rollout campaign {campaign_id}")
        decided: str | None = self.log.change(campaign_id, lambda c: c.review(tallies), missing)
        if decided:
            self.rollouts._forget(campaign_id)
            log.info("campaign %s %s", campaign_id, decided)
        return decided

    def in_flight(self, campaign_id: UUID) -> int:
        position = self.progress.position()  # first: the count read after it covers at least this position
        counted = self.progress.in_flight(campaign_id)
        reserved = self._reserved.setdefault(campaign_id, {})
        for station_id in [s for s, head in reserved.items() if head <= position]:
            del reserved[station_id]
        return counted + len(reserved)

    def expire_silent(self, campaign_id: UUID) -> int:
        """Fail the updates in flight not heard of for the policy's ``silence_timeout``; how many."""
        campaign = self.rollouts.get(campaign_id)
        rows = self.progress.chargers(campaign_id, IN_FLIGHT_STAGES, len(campaign.group_sizes), SILENT_BATCH)
        now, expired = self.clock(), 0
        for row in rows:

            def attempt(station_id: str = row["station_id"]) -> tuple[bool, list[Any]]:
                update: FirmwareUpdate | None = self.log.take(FirmwareUpdate.create_id(station_id))
                if update is None or update.campaign_id != campaign_id:
                    return False, []
                if not update.silent_since(now, campaign.policy.silence_timeout):
                    return False, [update]
                update.expire()
                return True, [update]

            expired += self.log.retrying(attempt, f"firmware update of {row['station_id']}")
        return expired

    def _candidates(self, rows: list[dict[str, Any]]) -> list[Candidate]:
        found = []
        for row in rows:
            charger: Charger | None = self.log.load_or_none(Charger.create_id(row["station_id"]))
            # busy: a transaction runs, or the enrolment step's UpdateFirmware is outstanding (services.firmware_rule)
            busy = (
                charger is None or bool(charger.running) or outstanding_update(self.log, row["station_id"]) is not None
            )
            online = self.link.is_reachable(row["station_id"])
            found.append(
                Candidate(row["station_id"], int(row["grp"]), row["time_zone"], Stage(row["stage"]), online, busy)
            )
        return found

    async def dispatch(self, campaign_id: UUID) -> list[str]:
        """Send UpdateFirmware to the chargers chosen now; the station ids that accepted."""
        campaign: RolloutCampaign = await self.run(self.rollouts.get, campaign_id)
        in_flight = await self.run(self.in_flight, campaign_id)
        slots = free_slots(campaign, in_flight)
        if not slots:
            return []
        limit = slots * CANDIDATES_PER_SLOT
        rows = await self.run(self.progress.chargers, campaign_id, (Stage.PENDING.value,), campaign.open_groups, limit)
        candidates = await self.run(self._candidates, rows)
        return await self._send_all(campaign, choose(campaign, in_flight, candidates, self.clock()))

    async def charger_back(self, station_id: str) -> bool:
        """A charger (re)connected: sent its campaign's UpdateFirmware now if the campaign's rules allow."""
        update: FirmwareUpdate | None = await self.run(self.rollouts.update_of, station_id)
        if update is None or update.stage is not Stage.PENDING or update.campaign_id is None:
            return False
        campaign = await self.run(self.rollouts.campaign, update.campaign_id)
        if campaign is None:
            return False
        in_flight = await self.run(self.in_flight, campaign.id)
        row = {"station_id": station_id, "grp": update.group, "time_zone": update.time_zone, "stage": "pending"}
        candidates = await self.run(self._candidates, [row])
        return bool(await self._send_all(campaign, choose(campaign, in_flight, candidates, self.clock())))

    async def _send_all(self, campaign: RolloutCampaign, chosen: list[str]) -> list[str]:
        sent = await asyncio.gather(*(self._send(campaign, station_id) for station_id in chosen))
        return [station_id for station_id, accepted in zip(chosen, sent, strict=True) if accepted]

    def _reserve(self, campaign: RolloutCampaign, station_id: str) -> int | None:
        def attempt() -> tuple[int | None, list[Any]]:
            update: FirmwareUpdate | None = self.log.take(FirmwareUpdate.create_id(station_id))
            if update is None or update.campaign_id != campaign.id or update.stage is not Stage.PENDING:
                return None, []
            below = self._below_minimum(campaign, station_id)
            if below is not None:  # it runs an older version than at planning: the image may not update it
                update.cancel(below)
                return None, [update]
            return update.request(), [update]

        request_id: int | None = self.log.retrying(attempt, f"firmware update of {station_id}")
        if request_id is not None:
            self._reserved.setdefault(campaign.id, {})[station_id] = self.log.recorder.max_notification_id() or 0
        return request_id

    def _below_minimum(self, campaign: RolloutCampaign, station_id: str) -> str | None:
        minimum = campaign.image.minimum_version
        charger: Charger | None = self.log.load_or_none(Charger.create_id(station_id)) if minimum else None
        version = charger.firmware_version if charger is not None else None
        return f"{BELOW_MINIMUM}: {version} < {minimum}" if below_minimum(version, minimum) else None

    def _answered(self, station_id: str, answer: str) -> None:
        def attempt() -> tuple[None, list[Any]]:
            update: FirmwareUpdate = self.log.take(FirmwareUpdate.create_id(station_id))
            update.answered(answer)
            return None, [update]

        self.log.retrying(attempt, f"firmware update of {station_id}")

    async def _send(self, campaign: RolloutCampaign, station_id: str) -> bool:
        async with self._locks.setdefault(station_id, asyncio.Lock()):
            request_id = await self.run(self._reserve, campaign, station_id)
            if request_id is None:
                return False
            request = self.update_request(campaign, request_id)
            try:
                answer = (await self.link.request(station_id, request)).status
            except LinkError as e:
                answer = e.reason
            await self.run(self._answered, station_id, answer)
            log.info("campaign %s: UpdateFirmware %s to %s: %s", campaign.id, request_id, station_id, answer)
            return answer in ACCEPTED_ANSWERS

    def update_request(self, campaign: RolloutCampaign, request_id: int) -> UpdateFirmware:
        """UpdateFirmware for the campaign's image: an uploaded one as an expiring link, with its signature."""
        image, policy, links = campaign.image, campaign.policy, self.rollouts.links
        location = links.url(image.sha256) if image.sha256 and links is not None else image.location
        return UpdateFirmware(
            request_id, location, self.clock(), image.signature, image.signing_certificate, policy.retries,
            policy.retry_interval,
        )  # fmt: skip

    async def after_boot(self, station_id: str) -> None:
        """After a BootNotification: the version it reported settles the charger's update (succeeded, rolled
        back, unknown), and a charger still pending may be sent UpdateFirmware now. Never raises."""
        try:
            charger: Charger | None = await self.run(self.log.load_or_none, Charger.create_id(station_id))
            if charger is not None and charger.last_boot_at is not None:
                if await self.run(self.rollouts.record_boot, station_id, charger.firmware_version) is Outcome.RECORDED:
                    await self.settled(station_id)
            await self.charger_back(station_id)
        except Exception:
            log.exception("the rollout step after the boot of %s failed", station_id)

    async def reported(self, station_id: str, status: str) -> None:
        """After a FirmwareStatusNotification: a failure frees the charger's slot. Never raises."""
        if STATUS_STAGE.get(status) is Stage.FAILED:
            try:
                await self.settled(station_id)
            except Exception:
                log.exception("the rollout step after the firmware status of %s failed", station_id)

    async def settled(self, station_id: str) -> None:
        """The charger's update may have settled: a round for its campaign soon (a free slot, a decision due)."""
        update: FirmwareUpdate | None = await self.run(self.rollouts.update_of, station_id)
        if update is not None and update.campaign_id is not None and not update.holds():
            self.nudge(update.campaign_id)

    def nudge(self, campaign_id: UUID) -> None:
        """A round for the campaign in ``NUDGE_SECONDS``: the settlements meanwhile share it (and the read model
        catches up with them first)."""
        if campaign_id in self._nudged:
            return
        self._nudged.add(campaign_id)

        async def later() -> None:
            await asyncio.sleep(NUDGE_SECONDS)
            self._nudged.discard(campaign_id)
            await self.tick(campaign_id)

        self._background(later(), campaign_id)

    def kick(self, campaign_id: UUID) -> None:
        """Run one ``tick`` in the background (after an operator started, resumed or promoted the campaign)."""
        self._background(self.tick(campaign_id), campaign_id)

    def _background(self, work: Awaitable[Any], campaign_id: UUID) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("the rollout round of campaign %s failed", campaign_id)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def tick(self, campaign_id: UUID) -> list[str]:
        """One round: review, expire the silent, dispatch."""
        await self.run(self.review, campaign_id)
        await self.run(self.expire_silent, campaign_id)
        return await self.dispatch(campaign_id)
