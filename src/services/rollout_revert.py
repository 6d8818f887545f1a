"""After a roll-back: the chargers that updated get the image they ran before, when the platform has it.

The chargers of the rolled-back campaign that succeeded are grouped by the version they ran before (the
progress read model keeps it per charger). For each version whose image was uploaded for the family, a new
campaign re-installs it on exactly those chargers (its filter names the rolled-back campaign and the version;
one group, started at once, under the same windows, limits and thresholds). For a version no image has, nothing
can be re-installed; the campaign records that (``RolloutCampaign.Reverted`` without a campaign, and why).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol
from uuid import UUID

from cloudbay_domain.rollout import RolloutCampaign
from services.rollouts import Rollouts, UnknownCampaign

PLATFORM = "platform"


class RevertSource(Protocol):
    def previous_versions(self, campaign_id: UUID) -> dict[str | None, int]:
        """The campaign's chargers that succeeded, counted by the version they ran before."""
        ...


class NoRevertSource:
    def previous_versions(self, campaign_id: UUID) -> dict[str | None, int]:
        return {}


class Reinstall:
    def __init__(self, rollouts: Rollouts, source: RevertSource) -> None:
        self.rollouts, self.source = rollouts, source

    def revert(self, campaign_id: UUID, by: str) -> list[UUID]:
        """Re-install the previous images after a roll-back; the campaigns started to do it."""
        parent = self.rollouts.get(campaign_id)
        started = []
        for version, chargers in sorted(self.source.previous_versions(campaign_id).items(), key=str):
            image = self.rollouts.images.find(parent.family, version)
            if image is None:
                known = f"version {version}" if version is not None else "the version they ran before (not reported)"
                reason = f"no image of {known} was uploaded for {parent.family}: they stay on {parent.image.version}"
                self._record(campaign_id, version, chargers, None, reason)
                continue
            child = self._reinstall(parent, str(image.id), version, by)
            self._record(campaign_id, version, chargers, str(child), f"re-installing {version} (campaign {child})")
            started.append(child)
        return started

    def _reinstall(self, parent: RolloutCampaign, image_id: str, version: str | None, by: str) -> UUID:
        policy = dataclasses.replace(parent.policy, groups=(100.0,), approval_required=False,
                                     automatic_promotion=True)  # fmt: skip
        filter = {"rollback_of": str(parent.id), "previous_version": version, "from_version": parent.image.version}
        image = self.rollouts.image_of(image_id, parent.family)
        child = self.rollouts.create(parent.family, parent.channel, image, policy, by, filter)
        self.rollouts.decide(child.id, "start", PLATFORM)
        return child.id

    def _record(self, campaign_id: UUID, version: str | None, chargers: int, child: str | None, why: str) -> None:
        self.rollouts.log.change(
            campaign_id, lambda c: c.reverted(version, chargers, child, why), UnknownCampaign(str(campaign_id))
        )
