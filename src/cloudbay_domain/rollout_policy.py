"""The value objects of a firmware rollout campaign: its policy, its maintenance windows, and the planning of
its targets into groups.

Planning is a pure function of the campaign's id and a charger's station id (``group_of``): a stable hash of the
two picks the charger's bucket (one of ``BUCKETS``), and the groups' cumulative shares cut the buckets into
groups. Planning a million chargers is a million hashes, in any order, on any node, with the same result; no
list of members has to be kept by the campaign, and a charger's group is written once, on its own record.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, tzinfo
from functools import cached_property
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

BUCKETS = 10_000  # a group's share is a whole number of basis points
MAX_GROUPS = 20
MAX_WINDOWS = 8


class InvalidPolicy(ValueError):
    """A rollout policy (groups, thresholds, windows, limits) the platform does not accept."""


def _clock(text: str) -> time:
    try:
        parsed = time.fromisoformat(text)
    except (TypeError, ValueError):
        raise InvalidPolicy(f"a window's start and end are HH:MM, not {text!r}") from None
    return parsed.replace(second=0, microsecond=0)


@dataclass(frozen=True)
class Window:
    """A daily maintenance window in the charger's local time, ``start`` up to (not including) ``end``; a window
    whose end is before its start runs over midnight (22:00-06:00: nights only)."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> Window:
        window = cls(_clock(start), _clock(end))
        if window.start == window.end:
            raise InvalidPolicy("a window's start and end differ (no window: leave the windows empty)")
        return window

    def contains(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def as_dict(self) -> dict[str, str]:
        return {"start": self.start.strftime("%H:%M"), "end": self.end.strftime("%H:%M")}


def zone(name: str) -> tzinfo:
    """The IANA time zone ``name`` (a charger's time zone); ``InvalidPolicy`` when there is none such."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise InvalidPolicy(f"no time zone {name!r} is known") from None


def within_windows(windows: tuple[Window, ...], now: datetime, time_zone: str) -> bool:
    """Whether ``now`` (aware) falls in one of ``windows`` in ``time_zone``; no windows: always."""
    if not windows:
        return True
    local = now.astimezone(zone(time_zone)).time().replace(second=0, microsecond=0)
    return any(window.contains(local) for window in windows)


@dataclass(frozen=True)
class RolloutPolicy:
    """How a campaign proceeds.

    - ``groups``: the cumulative shares of the targets, in percent, that each group reaches (1, 10, 50, 100: a
      1 % canary, then up to 10 %, 50 % and everyone); the last is 100.
    - ``success_threshold``: the share of a group updated that promotes the next one (automatically, with
      ``automatic_promotion``; else an operator promotes).
    - ``error_threshold``: the share of a group failed that halts the campaign.
    - ``max_concurrent``: at most this many chargers between UpdateFirmware and their outcome at any time.
    - ``windows``: when an update may start, in each charger's local time (none: at any time).
    - ``approval_required``: an operator approves before anyone may start the campaign.
    - ``silence_timeout``: seconds without a word from a charger being updated after which it has failed.
    """

    groups: tuple[float, ...] = (1.0, 10.0, 50.0, 100.0)
    success_threshold: float = 0.95
    error_threshold: float = 0.05
    automatic_promotion: bool = True
    max_concurrent: int = 100
    windows: tuple[Window, ...] = field(default=())
    approval_required: bool = False
    silence_timeout: int = 3600
    retries: int = 3  # UpdateFirmware's retries: how often the charger tries the download again
    retry_interval: int = 600  # and the seconds between its tries

    def __post_init__(self) -> None:
        if not 1 <= len(self.groups) <= MAX_GROUPS:
            raise InvalidPolicy(f"a campaign has 1-{MAX_GROUPS} groups")
        if any(not 0 < share <= 100 for share in self.groups) or self.groups[-1] != 100:
            raise InvalidPolicy("group shares are percentages in (0, 100], the last one 100")
        if any(b <= a for a, b in zip(self.cut_points, self.cut_points[1:], strict=False)):
            raise InvalidPolicy("group shares grow from group to group (by at least 0.01 %)")
        for name in ("success_threshold", "error_threshold"):
            if not 0 < getattr(self, name) <= 1:
                raise InvalidPolicy(f"{name} is a share in (0, 1]")
        if not 1 <= self.max_concurrent <= 1_000_000:
            raise InvalidPolicy("max_concurrent is 1-1000000")
        if len(self.windows) > MAX_WINDOWS:
            raise InvalidPolicy(f"at most {MAX_WINDOWS} maintenance windows")
        if not 60 <= self.silence_timeout <= 7 * 86400:
            raise InvalidPolicy("silence_timeout is 60 s to 7 days")
        if not 0 <= self.retries <= 100 or not 0 <= self.retry_interval <= 86400:
            raise InvalidPolicy("retries is 0-100 and retry_interval 0-86400 seconds")

    @classmethod
    def evenly(cls, count: int, **options: Any) -> RolloutPolicy:
        """``count`` groups of equal size."""
        if not 1 <= count <= MAX_GROUPS:
            raise InvalidPolicy(f"a campaign has 1-{MAX_GROUPS} groups")
        return cls(groups=tuple(round(100 * (i + 1) / count, 2) for i in range(count)), **options)

    @cached_property
    def cut_points(self) -> tuple[int, ...]:
        """Each group's last bucket + 1 (basis points of the bucket range)."""
        return tuple(round(share * BUCKETS / 100) for share in self.groups)

    def group_of(self, campaign_id: UUID, station_id: str) -> int:
        """The group (0-based) of a charger in the campaign: stable, and spread like the shares."""
        return self.planner(campaign_id)(station_id)

    def planner(self, campaign_id: UUID) -> Callable[[str], int]:
        """``group_of`` for one campaign, with its constant parts worked out once (a few µs a charger)."""
        prefix, cuts = f"{campaign_id}:".encode(), self.cut_points

        def group(station_id: str) -> int:
            digest = hashlib.blake2b(prefix + station_id.encode(), digest_size=8).digest()
            return bisect_right(cuts, int.from_bytes(digest, "big") % BUCKETS)

        return group

    def as_dict(self) -> dict[str, Any]:
        return {
            "groups": list(self.groups),
            "success_threshold": self.success_threshold,
            "error_threshold": self.error_threshold,
            "automatic_promotion": self.automatic_promotion,
            "max_concurrent": self.max_concurrent,
            "windows": [w.as_dict() for w in self.windows],
            "approval_required": self.approval_required,
            "silence_timeout": self.silence_timeout,
            "retries": self.retries,
            "retry_interval": self.retry_interval,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RolloutPolicy:
        windows = tuple(Window.parse(w["start"], w["end"]) for w in data.get("windows", []))
        return cls(**{**data, "groups": tuple(float(g) for g in data["groups"]), "windows": windows})


@dataclass(frozen=True)
class GroupTally:
    """What a group of a campaign counts now (the progress read model's figures): its chargers, those
    updated, those failed, and those between UpdateFirmware and their outcome."""

    size: int
    succeeded: int = 0
    failed: int = 0
    in_flight: int = 0

    @property
    def settled(self) -> int:
        return self.succeeded + self.failed

    def success_share(self) -> float:
        return self.succeeded / self.size if self.size else 1.0

    def failure_share(self) -> float:
        return self.failed / self.size if self.size else 0.0


@dataclass(frozen=True)
class Image:
    """The firmware image a campaign installs: its version, where chargers fetch it, and the oldest version it
    may update from (None: any)."""

    version: str
    location: str
    minimum_version: str | None = None
    signature: str | None = None
    signing_certificate: str | None = None
    image_id: str | None = None  # the uploaded ``FirmwareImage``, if the campaign installs one
    sha256: str | None = None  # its content hash: chargers are sent an expiring download link to it

    def as_dict(self) -> dict[str, Any]:
        return {
            "image_id": self.image_id,
            "sha256": self.sha256,
            "version": self.version,
            "location": self.location,
            "minimum_version": self.minimum_version,
            "signature": self.signature,
            "signing_certificate": self.signing_certificate,
        }
