"""The charging station (charger) aggregate: whitelisting, connections, boots, connector status."""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.reports import ConnectorStatus

MAX_STATION_ID_LENGTH = 48  # the OCPP identity string, part of the connection URL


class ChargerError(Exception):
    """A command the charger's rules do not allow."""


class InvalidStationId(ChargerError):
    pass


class NotConnected(ChargerError):
    pass


class Presence(str, enum.Enum):
    ONLINE = "online"
    OFFLINE = "offline"


def check_station_id(station_id: str) -> None:
    """A station id is printable, without '/' and at most 48 characters (OCPP identity)."""
    if (
        not station_id
        or len(station_id) > MAX_STATION_ID_LENGTH
        or not station_id.isprintable()
        or any(c in station_id for c in "/ ?#%")
    ):
        raise InvalidStationId(
            f"station id must be 1-{MAX_STATION_ID_LENGTH} printable characters without '/', ' ', '?', '#', '%'"
        )


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
        self.boot_count = 0
        self.last_boot_at: datetime | None = None
        self.vendor: str | None = None
        self.model: str | None = None
        self.serial_number: str | None = None
        self.firmware_version: str | None = None
        self.connectors: dict[str, ConnectorStatus] = {}  # "evse/connector" -> status
        self.periodic_event_count = 0
        self.data_transfer_count = 0
        self.rfid_required = True
        self.local_list_version = 0
        self.remote_starts: dict[int, dict[str, Any]] = {}  # remoteStartId -> who asked, for which EVSE
        self.meter_value_reports = 0

    @classmethod
    def whitelist(cls, station_id: str, hardware_family: str) -> Charger:
        check_station_id(station_id)
        return cls(station_id=station_id, hardware_family=hardware_family.strip() or "default")

    # --- connection -------------------------------------------------------------------

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
        self.session_id = session_id

    def disconnect(self, session_id: str, reason: str) -> bool:
        """A session closed. Returns False (and records nothing) for a session already replaced."""
        if self.session_id != session_id:
            return False
        self._disconnected(session_id=session_id, reason=reason)
        return True

    class Disconnected(Aggregate.Event):
        session_id: str
        reason: str

    @event(Disconnected)
    def _disconnected(self, session_id: str, reason: str) -> None:
        self.presence = Presence.OFFLINE
        self.session_id = None

    # --- what the charger reports --------------------------------------------------------

    def check_online(self) -> None:
        if self.presence is not Presence.ONLINE:
            raise NotConnected(f"charger {self.station_id} has no open session")

    class Booted(Aggregate.Event):
        reason: str
        vendor: str
        model: str
        serial_number: str | None
        firmware_version: str | None
        reported_at: datetime

    def boot(
        self,
        reason: str,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
        reported_at: datetime,
    ) -> None:
        self.check_online()
        self._booted(
            reason=reason,
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            firmware_version=firmware_version,
            reported_at=reported_at,
        )

    @event(Booted)
    def _booted(
        self,
        reason: str,
        vendor: str,
        model: str,
        serial_number: str | None,
        firmware_version: str | None,
        reported_at: datetime,
    ) -> None:
        self.boot_count += 1
        self.last_boot_at = reported_at
        self.vendor = vendor
        self.model = model
        self.serial_number = serial_number
        self.firmware_version = firmware_version

    class ConnectorStatusChanged(Aggregate.Event):
        evse_id: int
        connector_id: int
        status: str
        reported_at: datetime
        before_boot: bool

    def change_connector_status(
        self, evse_id: int, connector_id: int, status: ConnectorStatus, reported_at: datetime
    ) -> None:
        """Record a StatusNotification. One sent before any boot is kept but flagged."""
        self.check_online()
        self._connector_status_changed(
            evse_id=evse_id,
            connector_id=connector_id,
            status=ConnectorStatus(status).value,
            reported_at=reported_at,
            before_boot=self.boot_count == 0,
        )

    @event(ConnectorStatusChanged)
    def _connector_status_changed(
        self, evse_id: int, connector_id: int, status: str, reported_at: datetime, before_boot: bool
    ) -> None:
        self.connectors[f"{evse_id}/{connector_id}"] = ConnectorStatus(status)

    class PeriodicEventsReported(Aggregate.Event):
        generated_at: datetime
        seq_no: int
        to_be_continued: bool
        event_data: list[dict[str, Any]]

    def report_events(
        self, generated_at: datetime, seq_no: int, to_be_continued: bool, event_data: list[dict[str, Any]]
    ) -> None:
        """Record a NotifyEvent (N08: periodic event stream data and monitoring events)."""
        self.check_online()
        self._periodic_events_reported(
            generated_at=generated_at, seq_no=seq_no, to_be_continued=to_be_continued, event_data=event_data
        )

    @event(PeriodicEventsReported)
    def _periodic_events_reported(
        self, generated_at: datetime, seq_no: int, to_be_continued: bool, event_data: list[dict[str, Any]]
    ) -> None:
        self.periodic_event_count += 1

    class DataTransferred(Aggregate.Event):
        vendor_id: str
        message_id: str | None
        data_json: str  # vendor data kept opaque: no payload can collide with the event store's own encoding
        answered: str

        @property
        def data(self) -> Any:
            return json.loads(self.data_json)

    def transfer_data(self, vendor_id: str, message_id: str | None, data: Any, answered: str) -> None:
        """Record a DataTransfer (P01) from the charger with the status it was answered."""
        self.check_online()
        self._data_transferred(
            vendor_id=vendor_id, message_id=message_id, data_json=json.dumps(data), answered=answered
        )

    @event(DataTransferred)
    def _data_transferred(self, vendor_id: str, message_id: str | None, data_json: str, answered: str) -> None:
        self.data_transfer_count += 1

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

    def send_local_list(self, list_version: int, update_type: str, answer: str) -> None:
        """Record a SendLocalList and its answer; an Accepted one is the list the charger now holds."""
        self._local_list_sent(list_version=list_version, update_type=update_type, answer=answer)

    @event(LocalListSent)
    def _local_list_sent(self, list_version: int, update_type: str, answer: str) -> None:
        if answer == "Accepted":
            self.local_list_version = list_version

    class MeterValuesReported(Aggregate.Event):
        evse_id: int
        samples: list[dict[str, Any]]

    def report_meter_values(self, evse_id: int, samples: list[dict[str, Any]]) -> None:
        """Meter values (J03) outside any transaction: kept on the charger."""
        self._meter_values_reported(evse_id=evse_id, samples=samples)

    @event(MeterValuesReported)
    def _meter_values_reported(self, evse_id: int, samples: list[dict[str, Any]]) -> None:
        self.meter_value_reports += 1
