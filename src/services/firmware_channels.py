"""Assigning chargers to firmware channels: one charger at a time, or every charger a filter matches.

An assignment by filter reads the matching chargers from the fleet (``ChargerFinder``) a page at a time and
writes each one's ``ChannelMembership`` stream, ``BATCH`` chargers per save, so a million chargers are a
million small writes and never one event; the ``ChannelAssignment`` records the filter and, when done, how many
chargers it reached.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from eventsourcing.persistence import IntegrityError

from cloudbay_domain.charger import Charger
from cloudbay_domain.firmware_channel import ChannelAssignment, ChannelMembership, check_channel, check_filter
from services.chargers import not_whitelisted
from services.store import EventLog

BATCH = 2000


class ChargerFinder(Protocol):
    """The fleet's chargers a filter matches: (station id, hardware family) pairs, in pages, in any number."""

    def matching(self, filter: dict[str, Any]) -> Iterable[tuple[str, str]]: ...


class NoChargers:
    def matching(self, filter: dict[str, Any]) -> Iterable[tuple[str, str]]:
        return ()


class FirmwareChannels:
    def __init__(self, log: EventLog, finder: ChargerFinder) -> None:
        self.log, self.finder = log, finder

    def membership(self, station_id: str) -> ChannelMembership | None:
        found: ChannelMembership | None = self.log.load_or_none(ChannelMembership.create_id(station_id))
        return found

    def assign(self, station_id: str, family: str, channel: str, by: str) -> ChannelMembership:
        """Put one (whitelisted) charger on ``channel`` of ``family``."""
        self.log.load(Charger.create_id(station_id), not_whitelisted(station_id))
        check_channel(channel)

        def attempt() -> tuple[ChannelMembership, list[Any]]:
            found = self.membership(station_id)
            if found is None:
                joined = ChannelMembership.join(station_id, family, channel, by)
                return joined, [joined]
            return found, [found] if found.move(family, channel, by) else []

        return self.log.retrying(attempt, f"firmware channel of {station_id}")

    def assign_matching(self, channel: str, family: str | None, filter: dict[str, Any], by: str) -> ChannelAssignment:
        """Put every charger ``filter`` matches on ``channel`` of ``family`` (None: each its own family)."""
        assignment = ChannelAssignment.request(channel, family, check_filter(dict(filter)), by)
        self.log.save(assignment)
        matched = moved = 0
        batch: list[tuple[str, str]] = []
        for found in self.finder.matching(assignment.filter):
            batch.append(found)
            if len(batch) >= BATCH:
                moved += self._assign_batch(assignment, batch)
                matched, batch = matched + len(batch), []
        moved += self._assign_batch(assignment, batch)
        assignment.done(matched + len(batch), moved)
        self.log.save(assignment)
        return assignment

    def _assign_batch(self, assignment: ChannelAssignment, batch: list[tuple[str, str]]) -> int:
        """One save for the chargers of the batch that have no membership yet, then the others one by one."""
        if not batch:
            return 0
        repository, fresh, known = self.log.repository, [], []
        for station_id, own_family in batch:
            family = assignment.family or own_family
            if ChannelMembership.create_id(station_id) in repository:
                known.append((station_id, family))
            else:
                fresh.append(ChannelMembership.join(station_id, family, assignment.channel, assignment.by,
                                                    assignment.id))  # fmt: skip
        try:
            self.log.save(*fresh)
        except IntegrityError:  # one joined meanwhile: each on its own
            known += [(m.station_id, m.family) for m in fresh]
            fresh = []
        return len(fresh) + self._move_known(assignment, known)

    def _move_known(self, assignment: ChannelAssignment, known: list[tuple[str, str]]) -> int:
        """Move the chargers that have a membership: loaded, moved and saved together; on a lost race, each on
        its own. How many moved."""
        changed, vanished = [], []
        for station_id, family in known:
            found = self.membership(station_id)
            if found is None:
                vanished.append((station_id, family))
            elif found.move(family, assignment.channel, assignment.by, assignment.id):
                changed.append(found)
        try:
            self.log.save(*changed)
        except IntegrityError:  # one changed meanwhile: each on its own (a membership's family is the new one)
            vanished += [(m.station_id, m.family) for m in changed]
            changed = []
        return len(changed) + sum(self._move_one(assignment, station_id, family) for station_id, family in vanished)

    def _move_one(self, assignment: ChannelAssignment, station_id: str, family: str) -> bool:
        def attempt() -> tuple[bool, list[Any]]:
            found = self.membership(station_id)
            if found is None:
                joined = ChannelMembership.join(station_id, family, assignment.channel, assignment.by, assignment.id)
                return True, [joined]
            changed = found.move(family, assignment.channel, assignment.by, assignment.id)
            return changed, [found] if changed else []

        moved: bool = self.log.retrying(attempt, f"firmware channel of {station_id}")
        return moved
