"""Which chargers a campaign sends UpdateFirmware to now: a pure decision, the same in tests and on a node.

A charger is chosen only when its campaign runs (not draft, paused, halted or ended), its group is open, it
is pending (never sent, so never two UpdateFirmware at once), it is online, no transaction runs on any of its
EVSEs (the update waits until it is idle), and the time in its own time zone is within one of the campaign's
maintenance windows; and never more than ``max_concurrent`` chargers are in flight, counting those already
in flight.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cloudbay_domain.firmware_update import Stage
from cloudbay_domain.rollout import RolloutCampaign
from cloudbay_domain.rollout_policy import InvalidPolicy, within_windows


@dataclass(frozen=True)
class Candidate:
    """A charger of the campaign as the dispatcher sees it now."""

    station_id: str
    group: int
    time_zone: str = "UTC"
    stage: Stage = Stage.PENDING
    online: bool = True
    busy: bool = False  # a transaction runs on one of its EVSEs


def free_slots(campaign: RolloutCampaign, in_flight: int) -> int:
    """How many more chargers may be sent UpdateFirmware now (0 unless the campaign runs)."""
    if not campaign.sends():
        return 0
    return max(0, campaign.policy.max_concurrent - in_flight)


def eligible(campaign: RolloutCampaign, candidate: Candidate, now: datetime) -> bool:
    """Whether ``candidate`` may be sent UpdateFirmware now, concurrency apart."""
    if candidate.stage is not Stage.PENDING or not candidate.online or candidate.busy:
        return False
    if not 0 <= candidate.group < campaign.open_groups:
        return False
    try:
        return within_windows(campaign.policy.windows, now, candidate.time_zone)
    except InvalidPolicy:
        return False  # a time zone nobody knows: never inside a window


def choose(campaign: RolloutCampaign, in_flight: int, candidates: Iterable[Candidate], now: datetime) -> list[str]:
    """The station ids to send UpdateFirmware to now, in the candidates' order, each once."""
    slots = free_slots(campaign, in_flight)
    chosen: list[str] = []
    seen: set[str] = set()
    if not slots:
        return chosen
    for candidate in candidates:
        if candidate.station_id in seen or not eligible(campaign, candidate, now):
            continue
        seen.add(candidate.station_id)
        chosen.append(candidate.station_id)
        if len(chosen) >= slots:
            break
    return chosen
