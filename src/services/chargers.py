"""Chargers: whitelisting, connections and what they report (boots, status, events, data transfers)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from cloudbay_domain.charger import Charger
from cloudbay_domain.device import Device
from cloudbay_domain.reports import BootReport, DataTransferReport, EventsReport, MeterValuesReport, StatusReport
from services.errors import ServiceError, check_version
from services.store import EventLog

R = TypeVar("R")


class ChargerNotWhitelisted(ServiceError):
    pass


class ChargerAlreadyWhitelisted(ServiceError):
    pass


def not_whitelisted(station_id: str) -> ChargerNotWhitelisted:
    return ChargerNotWhitelisted(f"charger {station_id} is not whitelisted")


class Chargers:
    """Commands and lookups of the Charger aggregate."""

    def __init__(self, log: EventLog) -> None:
        self.log = log
        # kept for the charger's own session (its reports, its transactions' EVSE map) and checked: other
        # nodes and processes change chargers too (REST calls, presence sweeps)
        log.kept_kinds = (*log.kept_kinds, Charger)
        log.checked_kinds = (*log.checked_kinds, Charger)

    def whitelist(self, station_id: str, hardware_family: str) -> Charger:
        exists = ChargerAlreadyWhitelisted(f"charger {station_id} is already whitelisted")
        return self.log.create(Charger.whitelist(station_id, hardware_family), exists)

    def get(self, station_id: str) -> Charger:
        charger: Charger = self.log.load(Charger.create_id(station_id), not_whitelisted(station_id))
        return charger

    def exists(self, station_id: str) -> bool:
        return Charger.create_id(station_id) in self.log.repository

    def is_whitelisted(self, station_id: str) -> bool:
        """Whether the charger may connect: whitelisted, and not a scrapped device (scrapping takes a charger off
        the whitelist for good; its events stay)."""
        if not self.exists(station_id):
            return False
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        return device is None or device.connectable

    def change(self, station_id: str, command: Callable[[Charger], R], expected: Collection[int] | None = None) -> R:
        """Run ``command`` on the charger and save it (retried on a lost race); with ``expected``, only if the
        charger is at one of those versions when loaded (checked on every attempt: atomic with the save)."""

        def checked(charger: Charger) -> R:
            check_version(f"charger {station_id}", charger.version, expected)
            return command(charger)

        return self.log.change(Charger.create_id(station_id), checked, not_whitelisted(station_id))

    def connected(self, station_id: str, session_id: str, node: str) -> None:
        self.change(station_id, lambda c: c.connect(session_id, node))

    def disconnected(self, station_id: str, session_id: str, reason: str) -> bool:
        return self.change(station_id, lambda c: c.disconnect(session_id, reason))

    def close_stale(self, station_id: str, node: str, keep: Collection[str], reason: str) -> bool:
        """Record ``Disconnected`` for the session ``node`` holds on this charger unless it is one of ``keep``
        (the sessions that node still has): presence after a crash (docs/architecture.md "Presence")."""

        def close(charger: Charger) -> bool:
            return charger.session_id not in keep and charger.disconnect(None, reason, node=node)

        return self.change(station_id, close)

    def reopen(self, station_id: str, session_id: str, node: str) -> bool:
        """Record ``Connected`` again for a live session that another node closed while this node's lease had
        lapsed (the charger never left); False when the charger has another session meanwhile."""

        def reopen(charger: Charger) -> bool:
            if charger.session_id is not None:
                return False
            charger.connect(session_id, node)
            return True

        return self.change(station_id, reopen)

    def record_boot(self, station_id: str, report: BootReport) -> None:
        self.change(station_id, lambda c: c.boot(report))

    def record_status(self, station_id: str, report: StatusReport) -> None:
        self.change(station_id, lambda c: c.change_connector_status(report))

    def record_events(self, station_id: str, report: EventsReport) -> None:
        self.change(station_id, lambda c: c.report_events(report))

    def record_data_transfer(self, station_id: str, report: DataTransferReport) -> None:
        self.change(station_id, lambda c: c.transfer_data(report))

    def record_meter_values(self, station_id: str, report: MeterValuesReport) -> None:
        self.change(station_id, lambda c: c.report_meter_values(report))

    def set_rfid_required(self, station_id: str, required: bool, expected: Collection[int] | None = None) -> bool:
        return self.change(station_id, lambda c: c.require_rfid(required), expected)

    def view(self, station_id: str) -> dict[str, Any]:
        charger = self.get(station_id)
        return {
            "rfid_required": charger.rfid_required,
            "local_list_version": charger.local_list_version,
            "version": charger.version,
        }

    def history(
        self, station_id: str, after: int | None = None, limit: int | None = None
    ) -> Sequence[DomainEventProtocol[UUID]]:
        """The charger's own events, oldest first (for auditors): those after version ``after``, at most ``limit``."""
        if not self.exists(station_id):
            raise not_whitelisted(station_id)
        return list(self.log.events.get(Charger.create_id(station_id), gt=after, limit=limit))
