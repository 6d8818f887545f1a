"""Pairing a charger by its two codes: the charger label's QR and the box's, checked against the device's hashes.

Both codes are always checked, and a refusal never says which one was wrong. Every attempt is recorded on the
caller's ``PairingAttempts`` (whatever station it named) and, when it names a manufactured charger, as a
platform security event of that charger; a wrong-code attempt also on the charger's ``Ownership``. Either
lock (the caller's, the charger's) refuses further attempts unchecked until it ends (``PairingLocked``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cloudbay_domain.codes import BOX, PAIRING, read_payload
from cloudbay_domain.device import Device, DeviceState
from cloudbay_domain.membership import AlreadyPaired, locked_until
from cloudbay_domain.ownership import Ownership
from cloudbay_domain.pairing_attempts import Outcome, PairingAttempts
from cloudbay_domain.security import Notice, Origin, security_event
from services.batches import CodeHasher
from services.errors import ServiceError
from services.store import EventLog


@dataclass(frozen=True)
class PairingLimits:
    """``max_failures`` wrong-code attempts within ``lock_seconds`` lock a caller or a charger for ``lock_seconds``."""

    max_failures: int = 5
    lock_seconds: float = 900.0

    @property
    def lock(self) -> timedelta:
        return timedelta(seconds=self.lock_seconds)


class WrongPairingCodes(ServiceError):
    def __init__(self) -> None:
        super().__init__("these codes do not pair a charger: scan the charger's label and the code inside its box")


class PairingLocked(ServiceError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many wrong codes: pairing is locked, try again in {retry_after} s")
        self.retry_after = retry_after


class NotPairable(ServiceError):
    """The right codes of a charger that is not released (or was scrapped)."""

    def __init__(self, station_id: str, state: str) -> None:
        super().__init__(f"charger {station_id} is {state}: only a released charger can be paired")
        self.state = state


def audit(station_id: str, kind: str, at: datetime, info: str) -> Any:
    """A platform security event of the charger (the audit trail of pairing and membership)."""
    return security_event(station_id, Notice(Origin.PLATFORM, kind, at, info))


@dataclass
class _Attempt:
    outcome: Outcome
    ownership: Ownership | None
    lock_ends: datetime | None = None
    state: str = ""


class Pairing:
    def __init__(self, log: EventLog, hasher: CodeHasher, limits: PairingLimits) -> None:
        self.log, self.hasher, self.limits = log, hasher, limits

    def _lock(self, failures: list[datetime], now: datetime) -> datetime | None:
        ends = locked_until(failures, self.limits.max_failures, self.limits.lock)
        return ends if ends is not None and ends > now else None

    def _codes_match(self, device: Device | None, charger_code: str, box_code: str) -> bool:
        charger, box = read_payload(charger_code), read_payload(box_code)
        if device is None or charger is None or box is None:
            return False
        right_pair = self.hasher.verify(device.pairing_hash, charger[2])
        right_box = self.hasher.verify(device.box_hash, box[2])  # both checked, whatever the first said
        same = charger[:2] == (PAIRING, device.station_id) and box[:2] == (BOX, device.station_id)
        return right_pair and right_box and same

    def _decide(self, subject: str, station_id: str, device: Device | None, codes: tuple[str, str], now: datetime,
                attempts: PairingAttempts) -> _Attempt:  # fmt: skip
        ownership: Ownership | None = None
        if device is not None:
            ownership = self.log.load_or_none(Ownership.create_id(station_id)) or Ownership(station_id)
        lock = max(
            (e for e in (self._lock(attempts.failures, now), ownership and self._lock(ownership.failures, now)) if e),
            default=None,
        )
        if lock is not None:
            return _Attempt(Outcome.LOCKED, ownership, lock)
        if not self._codes_match(device, *codes):
            if ownership is not None:
                ownership.refuse_pairing(subject, now)
            return _Attempt(Outcome.WRONG_CODES, ownership)
        assert device is not None and ownership is not None
        if device.state is not DeviceState.RELEASED:
            return _Attempt(Outcome.NOT_PAIRABLE, ownership, state=device.state.value)
        try:
            ownership.pair(subject, now)
        except AlreadyPaired:
            return _Attempt(Outcome.ALREADY_PAIRED, ownership)
        return _Attempt(Outcome.PAIRED, ownership)

    def pair(self, subject: str, charger_code: str, box_code: str, now: datetime) -> Ownership:
        """Pair the charger both codes name to ``subject``; every refusal is recorded, then raised."""
        read = read_payload(charger_code)
        station_id = read[1] if read is not None else ""
        device: Device | None = self.log.load_or_none(Device.create_id(station_id)) if station_id else None

        def attempt() -> tuple[_Attempt, list[Any]]:
            attempts = self.log.load_or_none(PairingAttempts.create_id(subject)) or PairingAttempts(subject)
            decided = self._decide(subject, station_id, device, (charger_code, box_code), now, attempts)
            if decided.outcome is Outcome.WRONG_CODES:
                decided.lock_ends = self._lock([*attempts.failures, now], now)
                if decided.ownership is not None:
                    decided.lock_ends = decided.lock_ends or self._lock(decided.ownership.failures, now)
            attempts.attempt(station_id, decided.outcome, now)
            changed: list[Any] = [attempts]
            if decided.ownership is not None:
                info = f"{subject}: {decided.outcome.value}"
                changed += [decided.ownership, audit(station_id, "PairingAttempt", now, info)]
            return decided, changed

        decided = self.log.retrying(attempt, f"the pairing of {station_id or 'a charger'}")
        return self._answer(decided, station_id, now)

    def _answer(self, decided: _Attempt, station_id: str, now: datetime) -> Ownership:
        outcome = decided.outcome
        if decided.lock_ends is not None and outcome in (Outcome.LOCKED, Outcome.WRONG_CODES):
            raise PairingLocked(max(1, int((decided.lock_ends - now).total_seconds() + 0.999)))
        if outcome is Outcome.WRONG_CODES:
            raise WrongPairingCodes()
        if outcome is Outcome.NOT_PAIRABLE:
            raise NotPairable(station_id, decided.state)
        if outcome is Outcome.ALREADY_PAIRED:
            raise AlreadyPaired(f"charger {station_id} already has an owner: ask them for an invitation")
        assert decided.ownership is not None
        return decided.ownership
