"""The ``RolloutCampaign`` aggregate: one firmware rollout's decisions, and only its decisions.

A campaign records what operators and the platform decided: its target and image, its policy, the plan (how
many chargers each group got), approval, start, each promotion to the next group, pauses and resumptions, a
halt with its reason, abort, roll-back, completion. Each charger's progress lives on that charger's own
``FirmwareUpdate`` stream (``cloudbay_domain.firmware_update``) and the counts in the progress read model, so
this stream stays a few dozen events long whether the campaign has ten chargers or a million.

States::

    draft ──approve──▶ approved ──start──▶ running ◀──resume── paused
      └────────── start (no approval required) ──┘ └──pause──▶─┘
    running/paused ──(error threshold)──▶ halted      running ──(last group settled)──▶ completed
    draft/approved/running/paused/halted ──abort──▶ aborted
    running/paused/halted/completed ──rollback──▶ rolled-back
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.firmware import check_family, check_location, check_version
from cloudbay_domain.rollout_policy import GroupTally, Image, RolloutPolicy
from cloudbay_domain.text import check_text


class CampaignState(str, enum.Enum):
    DRAFT = "draft"
    APPROVED = "approved"
    RUNNING = "running"
    PAUSED = "paused"
    HALTED = "halted"
    ABORTED = "aborted"
    COMPLETED = "completed"
    ROLLED_BACK = "rolled-back"


#: the states in which the campaign holds its chargers (a charger is in one such campaign at most)
ACTIVE = frozenset({CampaignState.DRAFT, CampaignState.APPROVED, CampaignState.RUNNING, CampaignState.PAUSED})
ENDED = frozenset({CampaignState.ABORTED, CampaignState.COMPLETED, CampaignState.ROLLED_BACK})


class CampaignRefused(Exception):
    """A command the campaign's state does not allow (a conflict: the campaign is as it is)."""


class RolloutCampaign(Aggregate):
    """One rollout of one image to the chargers of a family and channel (and an optional filter)."""

    class Created(Aggregate.Created):
        family: str
        channel: str
        filter: dict[str, Any]
        image: dict[str, Any]
        policy: dict[str, Any]
        created_by: str

    @event(Created)
    def __init__(
        self, family: str, channel: str, filter: dict[str, Any], image: dict[str, Any], policy: dict[str, Any],
        created_by: str,
    ) -> None:  # fmt: skip
        self.family, self.channel, self.filter = family, channel, filter
        self.image = Image(**image)
        self.policy = RolloutPolicy.from_dict(policy)
        self.created_by = created_by
        self.state = CampaignState.DRAFT
        self.group_sizes: list[int] = []
        self.excluded = 0  # targets held by another campaign when this one was planned
        self.skipped: dict[str, int] = {}  # targets left out, by reason
        self.reverts: list[dict[str, Any]] = []  # after a roll-back: what was re-installed where, or why not
        self.planned = False
        self.open_groups = 0  # groups 0 .. open_groups-1 may be sent UpdateFirmware (when running)
        self.approved_by: str | None = None
        self.halt_reason: str | None = None
        self.ended_by: str | None = None

    @classmethod
    def draft(
        cls, family: str, channel: str, image: Image, policy: RolloutPolicy, by: str,
        filter: dict[str, Any] | None = None,
    ) -> RolloutCampaign:  # fmt: skip
        check_family(family)
        check_family(channel)  # a channel's name follows the rules of a family's
        check_version(image.version), check_location(image.location)
        if image.minimum_version is not None:
            check_version(image.minimum_version)
        check_text(by, "by")
        return cls(family, channel, dict(filter or {}), image.as_dict(), policy.as_dict(), by)

    @property
    def targets(self) -> int:
        return sum(self.group_sizes)

    def _require(self, allowed: Sequence[CampaignState], doing: str) -> None:
        if self.state not in allowed:
            raise CampaignRefused(f"a {self.state.value} campaign cannot {doing}")

    # --- planning ----------------------------------------------------------------------------

    class Planned(Aggregate.Event):
        group_sizes: list[int]
        excluded: int
        skipped: dict[str, int] | None = None  # targets left out, by reason (BelowMinimumVersion)

    def plan(self, group_sizes: list[int], excluded: int, skipped: dict[str, int] | None = None) -> None:
        """Record how many chargers each group got (their group is on each charger's record)."""
        self._require([CampaignState.DRAFT], "be planned")
        if self.planned:
            raise CampaignRefused("the campaign is planned already")
        if len(group_sizes) != len(self.policy.groups) or min(group_sizes, default=0) < 0:
            raise ValueError("one size per group")
        self._planned(group_sizes=list(group_sizes), excluded=excluded, skipped=dict(skipped or {}))

    @event(Planned)
    def _planned(self, group_sizes: list[int], excluded: int, skipped: dict[str, int] | None = None) -> None:
        self.group_sizes, self.excluded, self.planned = group_sizes, excluded, True
        self.skipped = dict(skipped or {})

    # --- operators' decisions ---------------------------------------------------------------------

    class Approved(Aggregate.Event):
        by: str

    def approve(self, by: str) -> None:
        self._require([CampaignState.DRAFT], "be approved")
        self._approved(by=by)

    @event(Approved)
    def _approved(self, by: str) -> None:
        self.state, self.approved_by = CampaignState.APPROVED, by

    class Started(Aggregate.Event):
        by: str

    def start(self, by: str) -> None:
        if self.state is CampaignState.DRAFT and self.policy.approval_required:
            raise CampaignRefused("the campaign needs an operator's approval before it starts")
        self._require([CampaignState.DRAFT, CampaignState.APPROVED], "start")
        if not self.planned:
            raise CampaignRefused("the campaign is not planned yet")
        self._started(by=by)
        self._open(by)

    @event(Started)
    def _started(self, by: str) -> None:
        self.state = CampaignState.RUNNING

    class GroupOpened(Aggregate.Event):
        group: int
        by: str

    def promote(self, by: str) -> int:
        """Open the next group (an operator's promotion, or the platform's automatic one); its index."""
        self._require([CampaignState.RUNNING, CampaignState.PAUSED], "be promoted")
        if self.open_groups >= len(self.group_sizes):
            raise CampaignRefused("every group is open already")
        return self._open(by)

    def _open(self, by: str) -> int:
        self._group_opened(group=self.open_groups, by=by)
        return self.open_groups - 1

    @event(GroupOpened)
    def _group_opened(self, group: int, by: str) -> None:
        self.open_groups = group + 1

    class Paused(Aggregate.Event):
        by: str

    def pause(self, by: str) -> None:
        self._require([CampaignState.RUNNING], "be paused")
        self._paused(by=by)

    @event(Paused)
    def _paused(self, by: str) -> None:
        self.state = CampaignState.PAUSED

    class Resumed(Aggregate.Event):
        by: str

    def resume(self, by: str) -> None:
        self._require([CampaignState.PAUSED], "be resumed")
        self._resumed(by=by)

    @event(Resumed)
    def _resumed(self, by: str) -> None:
        self.state = CampaignState.RUNNING

    class Ended(Aggregate.Event):
        """Aborted, completed or rolled back: the state it ended in, by whom, why."""

        state: str
        by: str
        reason: str

    def abort(self, by: str, reason: str = "aborted by an operator") -> None:
        self._require([*ACTIVE, CampaignState.HALTED], "be aborted")
        self._ended(state=CampaignState.ABORTED.value, by=by, reason=check_text(reason, "reason"))

    def roll_back(self, by: str, reason: str = "rolled back by an operator") -> None:
        allowed = [CampaignState.RUNNING, CampaignState.PAUSED, CampaignState.HALTED, CampaignState.COMPLETED]
        self._require(allowed, "be rolled back")
        self._ended(state=CampaignState.ROLLED_BACK.value, by=by, reason=check_text(reason, "reason"))

    @event(Ended)
    def _ended(self, state: str, by: str, reason: str) -> None:
        self.state, self.ended_by, self.halt_reason = CampaignState(state), by, reason

    class Reverted(Aggregate.Event):
        """After a roll-back, for the chargers that updated from ``previous_version``: re-installed by the
        campaign ``campaign_id``, or (None) not, and why."""

        previous_version: str | None
        chargers: int
        campaign_id: str | None
        reason: str

    def reverted(self, previous_version: str | None, chargers: int, campaign_id: str | None, reason: str) -> None:
        self._require([CampaignState.ROLLED_BACK], "re-install the previous image")
        self._reverted(previous_version=previous_version, chargers=chargers, campaign_id=campaign_id, reason=reason)

    @event(Reverted)
    def _reverted(self, previous_version: str | None, chargers: int, campaign_id: str | None, reason: str) -> None:
        entry = {"previous_version": previous_version, "chargers": chargers, "campaign_id": campaign_id}
        self.reverts = [*self.reverts, {**entry, "reason": reason}]

    # --- the platform's decisions on the counts ---------------------------------------------------

    class Halted(Aggregate.Event):
        group: int
        reason: str
        failed: int
        size: int

    def review(self, tallies: Sequence[GroupTally], by: str = "platform") -> str | None:
        """Decide on the groups' counts: halt on a group's error threshold, promote automatically on the
        current group's success threshold, complete when the last group is settled. What was decided, or None."""
        if self.state not in (CampaignState.RUNNING, CampaignState.PAUSED) or len(tallies) != len(self.group_sizes):
            return None
        for group in range(self.open_groups):
            tally = tallies[group]
            if tally.size and tally.failure_share() >= self.policy.error_threshold:
                share = f"{tally.failed} of {tally.size} failed"
                reason = f"group {group}: {share}, the error threshold is {self.policy.error_threshold:.2%}"
                self._halted(group=group, reason=reason, failed=tally.failed, size=tally.size)
                return "halted"
        if self.state is not CampaignState.RUNNING:
            return None
        current = tallies[self.open_groups - 1]
        last = self.open_groups == len(self.group_sizes)
        if last and all(t.settled >= t.size for t in tallies):
            self._ended(state=CampaignState.COMPLETED.value, by=by, reason="every group is settled")
            return "completed"
        if not last and self.policy.automatic_promotion:
            if current.success_share() >= self.policy.success_threshold:
                self._open(by)
                return "promoted"
        return None

    @event(Halted)
    def _halted(self, group: int, reason: str, failed: int, size: int) -> None:
        self.state, self.halt_reason = CampaignState.HALTED, reason

    def sends(self) -> bool:
        """Whether UpdateFirmware may go out for this campaign now."""
        return self.state is CampaignState.RUNNING
