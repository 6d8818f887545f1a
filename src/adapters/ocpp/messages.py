"""Charger messages (snake_case payloads, already schema-checked) read into the domain's value objects."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError

from adapters.ocpp.meter_values import parse_meter_values
from adapters.ocpp.rpc_limits import stored
from adapters.ocpp.time import parse_time, utcnow
from cloudbay_domain.metering import MeterValueError, Sample
from cloudbay_domain.reports import (
    BootReport,
    ConnectorStatus,
    DataTransferReport,
    EventsReport,
    EventType,
    MeterValuesReport,
    StatusReport,
    TransactionReport,
)
from cloudbay_domain.text import has_control_characters


def samples_of(meter_values: list[dict[str, Any]] | None) -> tuple[Sample, ...]:
    try:
        return tuple(parse_meter_values(meter_values or []))
    except MeterValueError as e:
        raise PropertyConstraintViolationError(
            description=f"meterValue: {e}", details={"field": "meterValue"}
        ) from None


def text(value: Any, field: str) -> Any:
    """``value`` unless it is text with a control character (``cloudbay_domain.text``): OCPP's identifier and
    string fields are printable, and nothing the platform accepts may hold a NUL."""
    if isinstance(value, str) and has_control_characters(value):
        raise PropertyConstraintViolationError(
            description=f"{field} must not contain control characters", details={"field": field}
        )
    return value


def boot_report(charging_station: dict[str, Any], reason: str) -> BootReport:
    return BootReport(
        reason=reason,
        vendor=text(charging_station["vendor_name"], "chargingStation.vendorName"),
        model=text(charging_station["model"], "chargingStation.model"),
        serial_number=text(charging_station.get("serial_number"), "chargingStation.serialNumber"),
        firmware_version=text(charging_station.get("firmware_version"), "chargingStation.firmwareVersion"),
        reported_at=utcnow(),
    )


def status_report(timestamp: str, connector_status: str, evse_id: int, connector_id: int) -> StatusReport:
    return StatusReport(evse_id, connector_id, ConnectorStatus(connector_status), parse_time(timestamp, "timestamp"))


def events_report(
    generated_at: str, seq_no: int, event_data: list[dict[str, Any]], tbc: bool, max_stored: int
) -> EventsReport:
    """The report, its eventData replaced by its size and SHA-256 when over ``max_stored`` bytes."""
    withheld = stored(event_data, max_stored)
    at = parse_time(generated_at, "generatedAt")
    return EventsReport(at, seq_no, tbc, [] if withheld else event_data, withheld)


def data_transfer_report(
    vendor_id: str, message_id: str | None, data: Any, answered: str, max_stored: int
) -> DataTransferReport:
    """The report, its data replaced by its size and SHA-256 when over ``max_stored`` bytes."""
    withheld = stored(data, max_stored)
    return DataTransferReport(vendor_id, message_id, None if withheld else data, answered, withheld)


def transaction_report(
    event_type: str,
    timestamp: str,
    trigger_reason: str,
    seq_no: int,
    transaction_info: dict[str, Any],
    meter_value: list[dict[str, Any]] | None = None,
    offline: bool = False,
    evse: dict[str, Any] | None = None,
    id_token: dict[str, Any] | None = None,
    **_: Any,
) -> TransactionReport:
    """A TransactionEvent's payload (snake_case keys) as the domain's report."""
    return TransactionReport(
        transaction_id=text(transaction_info["transaction_id"], "transactionInfo.transactionId"),
        event_type=EventType(event_type),
        seq_no=seq_no,
        timestamp=parse_time(timestamp, "timestamp"),
        trigger_reason=trigger_reason,
        offline=offline,
        evse_id=evse.get("id") if evse else None,
        connector_id=evse.get("connector_id") if evse else None,
        charging_state=transaction_info.get("charging_state"),
        stopped_reason=transaction_info.get("stopped_reason"),
        remote_start_id=transaction_info.get("remote_start_id"),
        id_token=text(id_token["id_token"], "idToken.idToken") if id_token and id_token.get("id_token") else None,
        samples=samples_of(meter_value),
    )


def meter_values_report(evse_id: int, meter_value: list[dict[str, Any]]) -> MeterValuesReport:
    return MeterValuesReport(evse_id, samples_of(meter_value))
