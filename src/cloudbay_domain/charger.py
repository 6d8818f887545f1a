"""The charging station (charger) aggregate: whitelisting, connections, boots, connector status."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.reports import (
    BootReport,
    ConnectorStatus,
    DataTransferReport,
    EventsReport,
    MeterValuesReport,
    StatusReport,
)
from cloudbay_domain.station_id import InvalidStationId, check_station_id
from cloudbay_domain.text import check_text

__all__ = ["Charger", "ChargerError", "ConnectorStatus", "InvalidStationId", "NotConnected", "check_station_id"]
LocalEntries = dict[str, dict[str, str]]  # a local list: id token -> {"type", "status"}


class ChargerError(Exception):
    """A command the charger's rules do not allow."""


class NotConnected(ChargerError):
    pass


class Presence(str, enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"


class Charger(Aggregate):
    """A whitelisted charging station, identified by its station id (its serial number).

    A charger exists only once an operator has whitelisted it; everything it then reports
    over OCPP (boots, connector status, periodic events, data transfers) is recorded here.
    Heartbeats are not recorded: presence changes only on connect and disconnect.
    """

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:charger:{station_id}")

    class Whitelisted(Aggregate.Created):
        station_id: str
        hardware_family: str

    @event(Whitelisted)
    def __init__(self, station_id: str, hardware_family: str) -> None:
        self.station_id = station_id
        self.hardware_family = hardware_family
        self.presence = Presence.OFFLINE
        self.session_id: str | None = None
        self.node: str | None = None  # the node holding the open session (presence is a lease of that node)
        self.boot_count = 0
        self.last_boot_at: datetime | None = None
        self.vendor: str | None = None
        self.model: str | None = None
        self.serial_number: str | None = None
        self.firmware_version: str | None = None
        self.connectors: dict[str, ConnectorStatus] = {}  # "evse/connector" -> status
        self.periodic_event_count = self.data_transfer_count = self.meter_value_reports = 0
        self.rfid_required, self.local_list_version = True, 0
        self.local_list_answer: tuple[int, str] | None = None  # the last SendLocalList: its version, the answer
        self.local_list_entries: LocalEntries | None = {}  # what it holds (None: unknown, sent before it was kept)
        self.local_list_tried: LocalEntries | None = None  # the list the last SendLocalList made
        self.remote_starts: dict[int, dict[str, Any]] = {}  # remoteStartId -> who asked, for which EVSE
        self.running: dict[int, str] = {}  # evseId -> the transaction running there

    @classmethod
    def whitelist(cls, station_id: str, hardware_family: str) -> Charger:
        check_station_id(station_id)
        return cls(station_id=station_id, hardware_family=check_text(hardware_family, "family").strip() or "default")

    def connect(self, session_id: str, node: str) -> None:
        """A WebSocket session opened; a newer session replaces an older one."""
        self._connected(session_id=session_id, node=node, replaced=self.session_id)

    class Connected(Aggregate.Event):
        session_id: str
        node: str
        replaced: str | None

    @event(Connected)
    def _connected(self, session_id: str, node: str, replaced: str | None) -> None:
        self.presence = Presence.ONLINE
        self.session_id, self.node = session_id, node

    def disconnect(self, session_id: str | None, reason: str, node: str | None = None) -> bool:
        """A session closed (None: the one ``node`` holds). False (nothing recorded) if replaced or closed."""
        if self.session_id is None or session_id not in (None, self.session_id) or node not in (None, self.node):
            return False
        self._disconnected(session_id=self.session_id, reason=reason)
        return True

    class Disconnected(Aggregate.Event):
        session_id: str
        reason: str

    @event(Disconnected)
    def _disconnected(self, session_id: str, reason: str) -> None:
        self.presence = Presence.OFFLINE
        self.session_id = self.node = None

    # --- what the charger reports --------------------------------------------------------

    def check_online(self) -> None:
        if self.presence is not Presence.ONLINE:
            raise NotConnected(f"charger {self.station_id} has no open session")

    def _record(self, event_class: type[Aggregate.Event], report: Any, **extra: Any) -> None:
        """Trigger ``event_class`` with the report's fields (the field list lives in the report)."""
        self.check_online()
        self.trigger_event(event_class, **{**vars(report), **extra})

    class Booted(Aggregate.Event):
        reason: str
        vendor: str
        model: str
        serial_number: str | None
        firmware_version: str | None
        reported_at: datetime

        def apply(self, charger: Charger) -> None:
            charger.boot_count += 1
            charger.last_boot_at = self.reported_at
            charger.vendor, charger.model = self.vendor, self.model
            charger.serial_number, charger.firmware_version = self.serial_number, self.firmware_version

    def boot(self, report: BootReport) -> None:
        """Record a BootNotification."""
        self._record(self.Booted, report)

    class ConnectorStatusChanged(Aggregate.Event):
        evse_id: int
        connector_id: int
        status: str
        reported_at: datetime
        before_boot: bool

        def apply(self, charger: Charger) -> None:
            charger.connectors[f"{self.evse_id}/{self.connector_id}"] = ConnectorStatus(self.status)

    def change_connector_status(self, report: StatusReport) -> None:
        """Record a StatusNotification. One sent before any boot is kept but flagged."""
        self.check_online()
        status = ConnectorStatus(report.status).value
        self._record(self.ConnectorStatusChanged, report, status=status, before_boot=self.boot_count == 0)

    class PeriodicEventsReported(Aggregate.Event):
        generated_at: datetime
        seq_no: int
        to_be_continued: bool
        event_data: list[dict[str, Any]]
        withheld: dict[str, Any] | None = None  # absent from older events: everything was kept

        def apply(self, charger: Charger) -> None:
            charger.periodic_event_count += 1

    def report_events(self, report: EventsReport) -> None:
        """Record a NotifyEvent (N08: periodic event stream data and monitoring events)."""
        self._record(self.PeriodicEventsReported, report)

    class DataTransferred(Aggregate.Event):
        vendor_id: str
        message_id: str | None
        data_json: str  # vendor data kept opaque: no payload can collide with the event store's own encoding
        answered: str
        withheld: dict[str, Any] | None = None  # {"size", "sha256"} of data not kept; absent from older events

        @property
        def data(self) -> Any:
            return json.loads(self.data_json)

        def apply(self, charger: Charger) -> None:
            charger.data_transfer_count += 1

    def transfer_data(self, report: DataTransferReport) -> None:
        """Record a DataTransfer (P01) from the charger with the status it was answered."""
        self.check_online()
        fields = {name: value for name, value in vars(report).items() if name != "data"}
        self.trigger_event(self.DataTransferred, data_json=json.dumps(report.data), **fields)

    # --- configuration and CSMS-initiated exchanges ------------------------------------------
    class RfidRequirementChanged(Aggregate.Event):
        rfid_required: bool

    def require_rfid(self, required: bool) -> bool:
        """Switch "RFID required" on or off. Returns False (nothing recorded) when already so."""
        if self.rfid_required == required:
            return False
        self._rfid_requirement_changed(rfid_required=required)
        return True

    @event(RfidRequirementChanged)
    def _rfid_requirement_changed(self, rfid_required: bool) -> None:
        self.rfid_required = rfid_required

    class RemoteStartRequested(Aggregate.Event):
        remote_start_id: int
        user: str
        evse_id: int | None
        id_token: str

    @event(RemoteStartRequested)
    def request_remote_start(self, remote_start_id: int, user: str, evse_id: int | None, id_token: str) -> None:
        """Record a RequestStartTransaction from the app, before it is sent (the charger may report first)."""
        self.remote_starts[remote_start_id] = {"user": user, "evse_id": evse_id, "id_token": id_token, "answer": None}

    class RemoteStartAnswered(Aggregate.Event):
        remote_start_id: int
        answer: str
        transaction_id: str | None

    @event(RemoteStartAnswered)
    def answer_remote_start(self, remote_start_id: int, answer: str, transaction_id: str | None) -> None:
        """The charger's answer (Accepted, Rejected) or what happened instead (Timeout, an error code)."""
        if remote_start_id in self.remote_starts:
            self.remote_starts[remote_start_id]["answer"] = answer

    class RemoteStopRequested(Aggregate.Event):
        transaction_id: str
        user: str
        answer: str

    @event(RemoteStopRequested)
    def request_remote_stop(self, transaction_id: str, user: str, answer: str) -> None:
        """Record a RequestStopTransaction sent from the app and the charger's answer."""

    class LocalListSent(Aggregate.Event):
        list_version: int
        update_type: str
        answer: str
        entries: LocalEntries | None = None  # the whole list the charger holds once it accepts

    @event(LocalListSent)
    def send_local_list(
        self, list_version: int, update_type: str, answer: str, entries: LocalEntries | None = None
    ) -> None:  # noqa: E501
        """Record a SendLocalList, the list it makes and its answer; Accepted: the list the charger now holds."""
        self.local_list_answer, self.local_list_tried = (list_version, answer), entries
        if answer == "Accepted":
            self.local_list_version, self.local_list_entries = list_version, entries

    class MeterValuesReported(Aggregate.Event):
        evse_id: int
        samples: list[dict[str, Any]]

        def apply(self, charger: Charger) -> None:
            charger.meter_value_reports += 1

    def report_meter_values(self, report: MeterValuesReport) -> None:
        """Meter values (J03) outside any transaction: kept on the charger."""
        samples = [sample.to_dict() for sample in report.samples]
        self.trigger_event(self.MeterValuesReported, evse_id=report.evse_id, samples=samples)

    # --- which transaction runs on which EVSE ---------------------------------------------------

    class EvseTransactionChanged(Aggregate.Event):
        """The transaction now running on an EVSE (None: none), as the charger's live messages tell."""

        evse_id: int
        transaction_id: str | None

        def apply(self, charger: Charger) -> None:
            if self.transaction_id is None:
                charger.running.pop(self.evse_id, None)
            else:
                charger.running[self.evse_id] = self.transaction_id

    def track_transaction(self, evse_id: int, transaction_id: str, active: bool) -> bool:
        """Note that ``transaction_id`` runs (or no longer runs) on ``evse_id``; False when nothing changed."""
        running = self.running.get(evse_id)
        if active and running != transaction_id:
            self.trigger_event(self.EvseTransactionChanged, evse_id=evse_id, transaction_id=transaction_id)
        elif not active and running == transaction_id:
            self.trigger_event(self.EvseTransactionChanged, evse_id=evse_id, transaction_id=None)
        else:
            return False
        return True

    class ResetRequested(Aggregate.Event):
        """A Reset sent by an operator, with the charger's answer (or Offline, Timeout, an error code)."""

        kind: str
        evse_id: int | None
        requested_by: str
        answer: str

    def request_reset(self, kind: str, evse_id: int | None, requested_by: str, answer: str) -> None:
        self.trigger_event(self.ResetRequested, kind=kind, evse_id=evse_id, requested_by=requested_by, answer=answer)
