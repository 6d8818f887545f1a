"""Firmware rollout campaigns: drafting and planning a campaign, operators' decisions, and what chargers report.

Planning writes one ``FirmwareUpdate.Enlisted`` on each target charger's own stream (its group, by the
campaign's stable hash) and one ``RolloutCampaign.Planned`` with the groups' sizes: a million targets are a
million small, independent writes, saved ``PLAN_BATCH`` at a time, and the campaign's stream stays short. A
target that another active campaign holds is left out (counted as ``excluded``).

Reports (``record_status``, ``record_boot``) go to the charger's stream only. A report for a charger whose
campaign ended (aborted, rolled back) lets the charger go (``cancelled``) and says so (``Outcome``); the
campaign's counts are the progress read model's, which ``review`` (``services.rollout_dispatch``) decides on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from cloudbay_domain.firmware_image import BELOW_MINIMUM, below_minimum
from cloudbay_domain.firmware_update import FirmwareUpdate, Outcome
from cloudbay_domain.rollout import ACTIVE, ENDED, CampaignRefused, RolloutCampaign
from cloudbay_domain.rollout_policy import GroupTally, Image, RolloutPolicy
from cloudbay_domain.text import check_text
from services.download_links import DownloadLinks
from services.errors import ServiceError
from services.firmware_images import FirmwareImages, ImageRefused, UnknownImage
from services.store import EventLog

PLAN_BATCH = 2000  # chargers enlisted per save while planning
CAMPAIGN_CACHE_SECONDS = 1.0  # how long a report may use a campaign read before (its state is re-read after)
COMMANDS = ("approve", "start", "pause", "resume", "promote", "abort", "roll_back")


class UnknownCampaign(ServiceError):
    """No rollout campaign has that id."""


class CampaignConflict(ServiceError):
    """The campaign's state does not allow the command (HTTP 409)."""


@dataclass(frozen=True)
class Target:
    """A charger a campaign may target: its station id, its time zone, the firmware version it runs."""

    station_id: str
    time_zone: str = "UTC"
    firmware_version: str | None = None


class TargetSource(Protocol):
    """The chargers of a family on a channel, narrowed by a filter (the fleet's channel assignments)."""

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterable[Target]: ...


class RolloutProgress(Protocol):
    """The progress read model, as the service reads it (``projections.rollout_queries.RolloutQueries``)."""

    def position(self) -> int: ...
    def tallies(self, campaign_id: UUID) -> list[GroupTally]: ...
    def in_flight(self, campaign_id: UUID) -> int: ...
    def chargers(self, campaign_id: UUID, stages: tuple[str, ...], groups: int, limit: int) -> list[dict[str, Any]]: ...


class NoTargets:
    """A target source with no chargers (processes that plan no campaigns: the CLI, tests)."""

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterable[Target]:
        return ()


class NoProgress:
    """Progress where no read model is kept: nothing counted, so nothing is in flight or sent."""

    def position(self) -> int:
        return 0

    def tallies(self, campaign_id: UUID) -> list[GroupTally]:
        return []

    def in_flight(self, campaign_id: UUID) -> int:
        return 0

    def chargers(self, campaign_id: UUID, stages: tuple[str, ...], groups: int, limit: int) -> list[dict[str, Any]]:
        return []


class Rollouts:
    def __init__(
        self, log: EventLog, targets: TargetSource, images: FirmwareImages | None = None,
        links: DownloadLinks | None = None,
    ) -> None:  # fmt: skip
        self.log, self.target_source, self.links = log, targets, links
        self.images = images or FirmwareImages(log)
        log.kept_kinds = (*log.kept_kinds, FirmwareUpdate)  # each is changed by its charger's reports, mostly
        self._campaigns: dict[UUID, tuple[float, RolloutCampaign]] = {}
        self._lock = threading.Lock()

    # --- campaigns ---------------------------------------------------------------------------

    def get(self, campaign_id: UUID) -> RolloutCampaign:
        found = self.log.load(campaign_id, UnknownCampaign(f"no rollout campaign {campaign_id}"))
        if not isinstance(found, RolloutCampaign):  # another aggregate's id (an image's, a charger's)
            raise UnknownCampaign(f"no rollout campaign {campaign_id}")
        return found

    def image_of(self, image_id: str, family: str) -> Image:
        """What a campaign of ``family`` installs of the uploaded image ``image_id``; refused for another family."""
        try:
            found = self.images.get(UUID(image_id))
        except ValueError:
            raise UnknownImage(f"no firmware image {image_id}") from None
        if found.family != family:
            raise ImageRefused(f"image {image_id} is for the family {found.family}, not {family}")
        location = self.links.plain(found.sha256) if self.links else f"http://localhost/firmware/{found.sha256}"
        return Image(found.firmware_version, location, found.minimum_version, found.signature,
                     found.signing_certificate, str(found.id), found.sha256)  # fmt: skip

    def create(
        self, family: str, channel: str, image: Image, policy: RolloutPolicy, by: str,
        filter: dict[str, Any] | None = None,
    ) -> RolloutCampaign:  # fmt: skip
        """Draft a campaign and plan it over its targets (see the module's docstring); a target running a
        version below the image's minimum is skipped (``BelowMinimumVersion``)."""
        campaign = RolloutCampaign.draft(family, channel, image, policy, by, filter)
        self.log.save(campaign)
        group_of = policy.planner(campaign.id)
        sizes, excluded, batch, skipped = [0] * len(policy.groups), 0, [], dict[str, int]()
        for target in self.target_source.targets(family, channel, campaign.filter):
            if below_minimum(target.firmware_version, image.minimum_version):
                skipped[BELOW_MINIMUM] = skipped.get(BELOW_MINIMUM, 0) + 1
                continue
            batch.append(target)
            if len(batch) >= PLAN_BATCH:
                excluded += self._enlist(campaign, batch, group_of, sizes)
                batch = []
        excluded += self._enlist(campaign, batch, group_of, sizes)
        campaign.plan(sizes, excluded, skipped)
        self.log.save(campaign)
        return campaign

    def _enlist(
        self, campaign: RolloutCampaign, targets: list[Target], group_of: Callable[[str], int], sizes: list[int]
    ) -> int:
        """Enlist a batch: as new streams in one save (a charger's first campaign), else one by one. The
        number left out (held by another active campaign)."""
        if not targets:
            return 0
        image = campaign.image
        updates = [
            FirmwareUpdate.open(t.station_id, campaign.id, group_of(t.station_id), t.time_zone, image.version,
                                image.location, t.firmware_version)
            for t in targets
        ]  # fmt: skip
        try:
            self.log.save(*updates)
        except IntegrityError:  # some have a stream already: each decided on its own
            joined = [t for t in targets if self._enlist_one(campaign, t, group_of(t.station_id))]
        else:
            joined = targets
        for target in joined:
            sizes[group_of(target.station_id)] += 1
        return len(targets) - len(joined)

    def _join(
        self, update: FirmwareUpdate, campaign: RolloutCampaign, target: Target, group: int, holder_active: bool
    ) -> bool:
        return update.enlist(
            campaign.id, group, target.time_zone, campaign.image.version, campaign.image.location,
            target.firmware_version, holder_active,
        )  # fmt: skip

    def _enlist_one(self, campaign: RolloutCampaign, target: Target, group: int) -> bool:
        def attempt() -> tuple[bool, list[Any]]:
            update: FirmwareUpdate | None = self.log.load_or_none(FirmwareUpdate.create_id(target.station_id))
            if update is None:
                image = campaign.image
                first = FirmwareUpdate.open(target.station_id, campaign.id, group, target.time_zone, image.version,
                                            image.location, target.firmware_version)  # fmt: skip
                return True, [first]
            holder = update.campaign_id
            active = holder is not None and holder != campaign.id and self.campaign_state(holder) in ACTIVE
            if holder == campaign.id and update.holds():
                return True, []  # enlisted already (a retried batch)
            joined = self._join(update, campaign, target, group, active)
            return joined, [update] if joined else []

        joined = self.log.retrying(attempt, f"firmware update of {target.station_id}")
        return joined

    def decide(self, campaign_id: UUID, command: str, by: str, reason: str | None = None) -> RolloutCampaign:
        """An operator's command: approve, start, pause, resume, promote, abort or roll_back."""
        if command not in COMMANDS:
            raise ValueError(f"no campaign command {command!r}")
        check_text(by, "by")

        def run(campaign: RolloutCampaign) -> RolloutCampaign:
            try:
                if reason is not None and command in ("abort", "roll_back"):
                    getattr(campaign, command)(by, reason)
                else:
                    getattr(campaign, command)(by)
            except CampaignRefused as e:
                raise CampaignConflict(str(e)) from None
            return campaign

        campaign = self.log.change(campaign_id, run, UnknownCampaign(f"no rollout campaign {campaign_id}"))
        self._forget(campaign_id)
        return campaign

    def campaign(self, campaign_id: UUID) -> RolloutCampaign | None:
        """The campaign as read at most ``CAMPAIGN_CACHE_SECONDS`` ago (reports use it for its state)."""
        now = time.monotonic()
        with self._lock:
            cached = self._campaigns.get(campaign_id)
        if cached is not None and now - cached[0] < CAMPAIGN_CACHE_SECONDS:
            return cached[1]
        found: RolloutCampaign | None = self.log.load_or_none(campaign_id)
        if found is not None:
            with self._lock:
                self._campaigns[campaign_id] = (now, found)
        return found

    def campaign_state(self, campaign_id: UUID) -> Any:
        found = self.campaign(campaign_id)
        return None if found is None else found.state

    def _forget(self, campaign_id: UUID) -> None:
        with self._lock:
            self._campaigns.pop(campaign_id, None)

    # --- what chargers report ---------------------------------------------------------------------

    def _on_update(self, station_id: str, step: Callable[[FirmwareUpdate], Outcome]) -> Outcome:
        def attempt() -> tuple[Outcome, list[Any]]:
            update: FirmwareUpdate | None = self.log.take(FirmwareUpdate.create_id(station_id))
            if update is None or not update.holds() or update.campaign_id is None:
                return Outcome.NOT_IN_CAMPAIGN, []
            state = self.campaign_state(update.campaign_id)
            if state is None or state in ENDED:
                return update.cancel("its campaign ended"), [update]
            return step(update), [update]

        outcome: Outcome = self.log.retrying(attempt, f"firmware update of {station_id}")
        return outcome

    def record_status(self, station_id: str, status: str, request_id: int | None) -> Outcome:
        """A FirmwareStatusNotification (L01) for the charger's campaign, if one holds it."""
        return self._on_update(station_id, lambda update: update.report(status, request_id))

    def record_boot(self, station_id: str, version: str | None) -> Outcome:
        """A BootNotification: the campaign's version is success, the old one after installing a roll-back."""
        return self._on_update(station_id, lambda update: update.booted(version))

    def update_of(self, station_id: str) -> FirmwareUpdate | None:
        found: FirmwareUpdate | None = self.log.load_or_none(FirmwareUpdate.create_id(station_id))
        return found
