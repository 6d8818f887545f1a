"""Which firmware channel (``stable``, ``beta``, ``canary``, ...) of which hardware family each charger follows.

Each charger's choice is its own small ``ChannelMembership`` stream (one event per change), never one list: an
assignment by filter over a million chargers is a million small writes, and the assignment itself
(``ChannelAssignment``) records only its filter, who asked and how many chargers it reached. A charger that was
never assigned follows ``stable`` of its own hardware family.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.firmware import InvalidFirmware, check_family
from cloudbay_domain.text import check_text

DEFAULT_CHANNEL = "stable"
FILTER_KEYS = ("hardware_family", "batch_id", "vendor", "model", "station_ids")
MAX_FILTER_IDS = 100_000


def check_channel(channel: str) -> str:
    """A channel's name follows the rules of a family's (1-64 characters, no control characters)."""
    try:
        return check_family(channel)
    except InvalidFirmware as e:
        raise InvalidFirmware(str(e).replace("hardware family", "channel")) from None


def check_filter(filter: dict[str, Any]) -> dict[str, Any]:
    """A filter over the fleet: by hardware family, production batch, vendor, model (exact text each) and a list
    of station ids; every key given must match. An empty filter is refused (it would reach every charger)."""
    unknown = set(filter) - set(FILTER_KEYS)
    if unknown:
        raise InvalidFirmware(f"a filter has no {', '.join(sorted(unknown))} (it has {', '.join(FILTER_KEYS)})")
    kept = {k: v for k, v in filter.items() if v is not None}
    if not kept:
        raise InvalidFirmware("a filter names at least one of " + ", ".join(FILTER_KEYS))
    for key, value in kept.items():
        if key == "station_ids":
            if not isinstance(value, list) or not value or len(value) > MAX_FILTER_IDS:
                raise InvalidFirmware(f"station_ids is a list of 1-{MAX_FILTER_IDS} station ids")
            for station_id in value:
                check_text(str(station_id), "station id")
        else:
            check_text(str(value), key)
    return kept


class ChannelMembership(Aggregate):
    """One charger's firmware family and channel, as operators last assigned them."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:firmware-channel:{station_id}")

    class Joined(Aggregate.Created):
        station_id: str
        family: str
        channel: str
        by: str
        assignment_id: UUID | None = None

    @event(Joined)
    def __init__(self, station_id: str, family: str, channel: str, by: str, assignment_id: UUID | None = None) -> None:
        self.station_id, self.family, self.channel, self.by = station_id, family, channel, by
        self.assignment_id = assignment_id

    @classmethod
    def join(
        cls, station_id: str, family: str, channel: str, by: str, assignment_id: UUID | None = None
    ) -> ChannelMembership:
        return cls(station_id, check_family(family), check_channel(channel), check_text(by, "by"), assignment_id)

    class Moved(Aggregate.Event):
        station_id: str
        family: str
        channel: str
        by: str
        assignment_id: UUID | None = None

    def move(self, family: str, channel: str, by: str, assignment_id: UUID | None = None) -> bool:
        """Follow ``channel`` of ``family`` from now on; False (nothing recorded) when it does already."""
        if (family, channel) == (self.family, self.channel):
            return False
        check_family(family), check_channel(channel), check_text(by, "by")
        self._moved(station_id=self.station_id, family=family, channel=channel, by=by, assignment_id=assignment_id)
        return True

    @event(Moved)
    def _moved(self, station_id: str, family: str, channel: str, by: str, assignment_id: UUID | None = None) -> None:
        self.family, self.channel, self.by, self.assignment_id = family, channel, by, assignment_id


class ChannelAssignment(Aggregate):
    """An assignment of every charger a filter matches to a channel (and a family, or each its own)."""

    class Requested(Aggregate.Created):
        channel: str
        family: str | None
        filter: dict[str, Any]
        by: str

    @event(Requested)
    def __init__(self, channel: str, family: str | None, filter: dict[str, Any], by: str) -> None:
        self.channel, self.family, self.filter, self.by = channel, family, filter, by
        self.matched: int | None = None
        self.moved: int | None = None

    @classmethod
    def request(cls, channel: str, family: str | None, filter: dict[str, Any], by: str) -> ChannelAssignment:
        if family is not None:
            check_family(family)
        return cls(check_channel(channel), family, check_filter(dict(filter)), check_text(by, "by"))

    class Done(Aggregate.Event):
        matched: int
        moved: int

    def done(self, matched: int, moved: int) -> None:
        """Every matching charger was reached: how many matched, how many of those changed channel."""
        self._done(matched=matched, moved=moved)

    @event(Done)
    def _done(self, matched: int, moved: int) -> None:
        self.matched, self.moved = matched, moved
