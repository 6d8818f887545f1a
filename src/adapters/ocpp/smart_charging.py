"""Smart charging (K01 SetChargingProfile, K10 ClearChargingProfile, K08 GetCompositeSchedule) as OCPP 2.0.1
calls, and their answers back as the port's answer objects."""

from __future__ import annotations

from typing import Any

from ocpp.v201 import call

from adapters.ocpp.time import ocpp_time, parse_time
from services.ports import (
    ChargingProfile,
    ClearChargingProfile,
    CompositeAnswer,
    GetCompositeSchedule,
    GetVariable,
    SchedulePeriod,
    SetChargingProfile,
    VariableAnswer,
)


def _period(period: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"start_period": period.start_period, "limit": round(period.limit, 1)}
    if period.number_phases is not None:
        out["number_phases"] = period.number_phases
    return out


def profile_payload(profile: ChargingProfile) -> dict[str, Any]:
    """The ChargingProfileType of ``profile``; its one schedule bears the profile's id."""
    schedule: dict[str, Any] = {
        "id": profile.id,
        "charging_rate_unit": profile.rate_unit,
        "charging_schedule_period": [_period(p) for p in profile.periods],
    }
    if profile.start is not None:
        schedule["start_schedule"] = ocpp_time(profile.start)
    if profile.duration is not None:
        schedule["duration"] = profile.duration
    out: dict[str, Any] = {
        "id": profile.id,
        "stack_level": profile.stack_level,
        "charging_profile_purpose": profile.purpose,
        "charging_profile_kind": profile.kind,
        "charging_schedule": [schedule],
    }
    for key, value in (("valid_from", profile.valid_from), ("valid_to", profile.valid_to)):
        if value is not None:
            out[key] = ocpp_time(value)
    if profile.transaction_id is not None:
        out["transaction_id"] = profile.transaction_id
    return out


def set_charging_profile(request: SetChargingProfile) -> Any:
    return call.SetChargingProfile(evse_id=request.evse_id, charging_profile=profile_payload(request.profile))


def clear_charging_profile(request: ClearChargingProfile) -> Any:
    criteria = {
        key: value
        for key, value in (
            ("evse_id", request.evse_id),
            ("charging_profile_purpose", request.purpose),
            ("stack_level", request.stack_level),
        )
        if value is not None
    }
    return call.ClearChargingProfile(charging_profile_id=request.profile_id, charging_profile_criteria=criteria or None)


def get_composite_schedule(request: GetCompositeSchedule) -> Any:
    return call.GetCompositeSchedule(
        duration=request.duration, evse_id=request.evse_id, charging_rate_unit=request.rate_unit
    )


def composite_answer(result: Any) -> CompositeAnswer:
    """The charger's composite schedule; Rejected answers carry none."""
    schedule = result.schedule
    if not schedule:
        return CompositeAnswer(str(result.status))
    periods = tuple(
        SchedulePeriod(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
        for p in schedule["charging_schedule_period"]
    )
    return CompositeAnswer(
        status=str(result.status),
        start=parse_time(schedule["schedule_start"], "scheduleStart"),
        duration=int(schedule["duration"]),
        rate_unit=str(schedule["charging_rate_unit"]),
        periods=periods,
    )


def get_variable(request: GetVariable) -> Any:
    wanted = {"component": {"name": request.component}, "variable": {"name": request.variable}}
    return call.GetVariables(get_variable_data=[wanted])


def variable_answer(result: Any) -> VariableAnswer:
    """The first (the only asked) result of a GetVariables answer."""
    found = (result.get_variable_result or [{}])[0]
    value = found.get("attribute_value")
    return VariableAnswer(str(found.get("attribute_status", "Rejected")), None if value is None else str(value))
