"""Every pairing attempt one caller made, for the audit and for the lock on guessing codes.

One ``PairingAttempts`` aggregate per caller (the subject of their token): each attempt appends an event naming
the station id the caller claimed (any text they sent: it may name no charger) and the outcome. ``failures``
keeps the times of the recent wrong-code attempts, from which the caller's lock is derived
(``cloudbay_domain.membership.locked_until``), whichever chargers they tried.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.membership import KEPT_FAILURES

MAX_CLAIMED = 100  # characters of the claimed station id kept (it is the caller's text)


class Outcome(str, enum.Enum):
    PAIRED = "paired"
    WRONG_CODES = "wrong-codes"  # counted towards the lock
    LOCKED = "locked"  # refused unchecked: the caller or the charger was locked
    NOT_PAIRABLE = "not-pairable"  # the right codes of a charger not released (or scrapped)
    ALREADY_PAIRED = "already-paired"  # the right codes of a charger that has an owner


class PairingAttempts(Aggregate):
    @staticmethod
    def create_id(subject: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:pairing-attempts:{subject}")

    class Started(Aggregate.Created):
        subject: str

    @event(Started)
    def __init__(self, subject: str) -> None:
        self.subject = subject
        self.failures: list[datetime] = []

    class Attempted(Aggregate.Event):
        station_id: str
        outcome: str
        at: datetime

    def attempt(self, station_id: str, outcome: Outcome, at: datetime) -> None:
        self._attempted(station_id=station_id[:MAX_CLAIMED], outcome=Outcome(outcome).value, at=at)

    @event(Attempted)
    def _attempted(self, station_id: str, outcome: str, at: datetime) -> None:
        if outcome == Outcome.WRONG_CODES.value:
            self.failures = [*self.failures, at][-KEPT_FAILURES:]
