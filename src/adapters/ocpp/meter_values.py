"""Reading OCPP 2.0.1 MeterValue lists (J02 in TransactionEvent, J03 in MeterValues) into domain Samples.

This is the edge: the JSON shapes are checked here (objects, lists, strings, the ISO-8601 timestamp), and each
SampledValue is handed to ``cloudbay_domain.metering.normalised_sample``, which owns the defaults and the unit
arithmetic. Only snake_case keys are read (``sampled_value``, ``unit_of_measure``):
the RPC layer converts every payload to snake_case before a handler sees it, so a camelCase key here would mean
a payload that skipped that layer, and is ignored like any unknown key. Anything unreadable raises
``MeterValueError``, which the handlers answer as an OCPP error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cloudbay_domain.metering import MeterValueError, Sample, normalised_sample

__all__ = ["MeterValueError", "parse_meter_values"]


def _text(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise MeterValueError(f"{key} must be a string, not {value!r}")
    return value


def _timestamp(raw: Any) -> datetime:
    try:
        return raw if isinstance(raw, datetime) else datetime.fromisoformat(raw)
    except (TypeError, ValueError) as exc:
        raise MeterValueError(f"bad timestamp {raw!r}") from exc


def _sample(timestamp: datetime, sampled: Any) -> Sample:
    if not isinstance(sampled, dict):
        raise MeterValueError(f"a sampled value must be an object, not {sampled!r}")
    value: Any = sampled.get("value")  # any JSON value: the domain refuses what is not a finite number
    uom = sampled.get("unit_of_measure") or {}
    if not isinstance(uom, dict):
        raise MeterValueError(f"unit_of_measure must be an object, not {uom!r}")
    return normalised_sample(
        timestamp,
        _text(sampled, "measurand"),
        value,
        unit=_text(uom, "unit"),
        multiplier=uom.get("multiplier", 0),
        phase=_text(sampled, "phase"),
        context=_text(sampled, "context"),
        location=_text(sampled, "location"),
    )


def parse_meter_values(meter_values: list[dict[str, Any]]) -> list[Sample]:
    """Every SampledValue of a MeterValue list (J02/J03 payload) as a Sample; MeterValueError if unreadable."""
    if not isinstance(meter_values, list | tuple):
        raise MeterValueError("meter values must be a list")
    samples: list[Sample] = []
    for meter_value in meter_values:
        if not isinstance(meter_value, dict):
            raise MeterValueError(f"a meter value must be an object, not {meter_value!r}")
        timestamp = _timestamp(meter_value.get("timestamp"))
        sampled_values = meter_value.get("sampled_value")
        if not isinstance(sampled_values, list | tuple):
            raise MeterValueError("sampled_value must be a list")
        samples.extend(_sample(timestamp, sampled) for sampled in sampled_values)
    return samples
