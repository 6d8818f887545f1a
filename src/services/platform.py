"""The CloudBay application service: load an aggregate, run a command, save.

Adapters (OCPP, REST, CLI) call these methods; they never touch aggregates or the store directly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import IntegrityError, Recording

from cloudbay_domain.charger import Charger, ConnectorStatus
from cloudbay_domain.user import User, UserError, UserRole, normalise_email
from services.charging import ChargingService
from services.errors import ConcurrentUpdate, ServiceError
from services.group_commit import GroupCommitter

MAX_CONFLICT_RETRIES = 8

__all__ = ["MAX_CONFLICT_RETRIES", "CloudBay", "ConcurrentUpdate", "ServiceError"]

A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class ChargerNotWhitelisted(ServiceError):
    pass


class ChargerAlreadyWhitelisted(ServiceError):
    pass


class UserAlreadyExists(ServiceError):
    pass


class UnknownUser(ServiceError):
    pass


class CloudBay(ChargingService, Application[UUID]):
    """Every aggregate of the platform lives in this application's one event log."""

    name = "CloudBay"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.committer = GroupCommitter(self)
        self._listeners: list[Callable[[], None]] = []
        self._listeners_lock = threading.Lock()

    # --- notifications to in-process followers (projections) ---------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            for listener in list(self._listeners):
                listener()

    # --- load, command, save ------------------------------------------------------------

    def _update(self, aggregate_id: UUID, command: Callable[[Any], R], missing: ServiceError) -> R:
        """Run ``command`` on a fresh copy of the aggregate and save it (in the next group commit); on a lost
        race, reload and retry; after ``MAX_CONFLICT_RETRIES`` lost races, ``ConcurrentUpdate``."""
        for attempt in range(MAX_CONFLICT_RETRIES):
            if attempt:
                time.sleep(random.uniform(0, 0.002 * attempt))  # jitter: let the winner's writes settle
            try:
                aggregate: Any = self.repository.get(aggregate_id)
            except AggregateNotFoundError:
                raise missing from None
            result = command(aggregate)
            try:
                self.committer.save(aggregate)
            except IntegrityError:
                continue
            return result
        raise ConcurrentUpdate(f"aggregate {aggregate_id} kept changing; try again")

    def close(self) -> None:
        self.committer.stop()
        super().close()

    # --- chargers ---------------------------------------------------------------------

    def whitelist_charger(self, station_id: str, hardware_family: str) -> Charger:
        charger = Charger.whitelist(station_id, hardware_family)
        try:
            self.save(charger)
        except IntegrityError:
            raise ChargerAlreadyWhitelisted(f"charger {station_id} is already whitelisted") from None
        return charger

    def get_charger(self, station_id: str) -> Charger:
        try:
            charger: Charger = self.repository.get(Charger.create_id(station_id))
        except AggregateNotFoundError:
            raise ChargerNotWhitelisted(f"charger {station_id} is not whitelisted") from None
        return charger

    def is_whitelisted(self, station_id: str) -> bool:
        return Charger.create_id(station_id) in self.repository

    def _update_charger(self, station_id: str, command: Callable[[Charger], R]) -> R:
        missing = ChargerNotWhitelisted(f"charger {station_id} is not whitelisted")
        return self._update(Charger.create_id(station_id), command, missing)

    def charger_connected(self, station_id: str, session_id: str, node: str) -> None:
        self._update_charger(station_id, lambda c: c.connect(session_id, node))

    def charger_disconnected(self, station_id: str, session_id: str, reason: str) -> bool:
        return self._update_charger(station_id, lambda c: c.disconnect(session_id, reason))

    def record_boot(
        self,
        station_id: str,
        *,
        reason: str,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
        reported_at: datetime,
    ) -> None:
        self._update_charger(
            station_id,
            lambda c: c.boot(reason, vendor, model, serial_number, firmware_version, reported_at),
        )

    def record_connector_status(
        self, station_id: str, evse_id: int, connector_id: int, status: ConnectorStatus, reported_at: datetime
    ) -> None:
        self._update_charger(
            station_id, lambda c: c.change_connector_status(evse_id, connector_id, status, reported_at)
        )

    def record_periodic_events(
        self,
        station_id: str,
        generated_at: datetime,
        seq_no: int,
        to_be_continued: bool,
        event_data: list[dict[str, Any]],
    ) -> None:
        self._update_charger(station_id, lambda c: c.report_events(generated_at, seq_no, to_be_continued, event_data))

    def record_data_transfer(
        self, station_id: str, vendor_id: str, message_id: str | None, data: Any, answered: str
    ) -> None:
        self._update_charger(station_id, lambda c: c.transfer_data(vendor_id, message_id, data, answered))

    def charger_history(self, station_id: str) -> Sequence[DomainEventProtocol[UUID]]:
        """The charger's own events, oldest first (for auditors)."""
        if not self.is_whitelisted(station_id):
            raise ChargerNotWhitelisted(f"charger {station_id} is not whitelisted")
        return list(self.events.get(Charger.create_id(station_id)))

    # --- users --------------------------------------------------------------------------

    def register_user(self, email: str, role: UserRole, secret_hash: str) -> User:
        user = User.register(email, role, secret_hash)
        try:
            self.save(user)
        except IntegrityError:
            raise UserAlreadyExists(f"user {user.email} already exists") from None
        return user

    def get_user(self, email: str) -> User:
        try:
            email = normalise_email(email)
            user: User = self.repository.get(User.create_id(email))
        except (AggregateNotFoundError, UserError):
            raise UnknownUser(f"no user {email}") from None
        return user

    def rotate_user_secret(self, email: str, secret_hash: str) -> None:
        email = normalise_email(email)
        self._update(User.create_id(email), lambda u: u.rotate_secret(secret_hash), UnknownUser(f"no user {email}"))
