"""What a charger reports, one frozen value object per message, in the domain's words.

The OCPP adapter builds these at the edge (from BootNotification, StatusNotification, NotifyEvent,
DataTransfer, TransactionEvent and MeterValues); services and aggregates take them whole, so the field list
of a message is written here once. Nothing here knows OCPP's JSON shapes.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudbay_domain.metering import Sample


class ConnectorStatus(str, enum.Enum):
    """The status of one connector of one EVSE (OCPP 2.0.1 ConnectorStatusEnumType)."""

    AVAILABLE = "Available"
    OCCUPIED = "Occupied"
    RESERVED = "Reserved"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"


class EventType(str, enum.Enum):
    STARTED = "Started"
    UPDATED = "Updated"
    ENDED = "Ended"


@dataclass(frozen=True)
class BootReport:
    """A BootNotification (B01): who the charger says it is, and why it booted."""

    reason: str
    vendor: str
    model: str
    serial_number: str | None
    firmware_version: str | None
    reported_at: datetime


@dataclass(frozen=True)
class StatusReport:
    """A StatusNotification (G01) of one connector."""

    evse_id: int
    connector_id: int
    status: ConnectorStatus
    reported_at: datetime


@dataclass(frozen=True)
class EventsReport:
    """A NotifyEvent (N08): periodic event stream data and monitoring events, kept as sent."""

    generated_at: datetime
    seq_no: int
    to_be_continued: bool
    event_data: list[dict[str, Any]]
    withheld: dict[str, Any] | None = None  # event_data over the stored limit: {"size", "sha256"}, data []


@dataclass(frozen=True)
class DataTransferReport:
    """A DataTransfer (P01) from the charger, with the status the platform answered."""

    vendor_id: str
    message_id: str | None
    data: Any
    answered: str
    withheld: dict[str, Any] | None = None  # data over the stored limit: {"size", "sha256"}, data None


@dataclass(frozen=True)
class TransactionReport:
    """One TransactionEvent (E01-E03, E09, J02), with its meter values already read into samples."""

    transaction_id: str
    event_type: EventType
    seq_no: int
    timestamp: datetime  # the charger's clock
    trigger_reason: str
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    id_token: str | None = None
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class MeterValuesReport:
    """A MeterValues message (J03) of one EVSE (0: the main meter)."""

    evse_id: int
    samples: tuple[Sample, ...]
