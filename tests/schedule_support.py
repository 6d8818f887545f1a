"""A charger that takes smart-charging calls (K01, K08, K10), recording each, for the scheduling tests."""

from __future__ import annotations

from typing import Any

from ocpp.exceptions import NotSupportedError
from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from tests.support import Station

SMART = ("SetChargingProfile", "ClearChargingProfile", "GetCompositeSchedule")


def smart(received: list[tuple[str, dict[str, Any]]]) -> list[tuple[str, dict[str, Any]]]:
    """The smart-charging calls among what a station received."""
    return [(a, p) for a, p in received if a in SMART]


class SmartStation(Station):
    """A charger that records its smart-charging calls and answers ``answer`` (or a CALLERROR if ``refuse``)."""

    answer = "Accepted"
    refuse = False

    async def _smart(self, action: str, payload: dict[str, Any]) -> None:
        await self._answer(action, payload)
        if self.refuse:
            raise NotSupportedError(description=f"{action} is not supported here")

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, **kwargs: Any) -> Any:
        await self._smart("SetChargingProfile", kwargs)
        return call_result.SetChargingProfile(status=self.answer)

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        await self._smart("ClearChargingProfile", kwargs)
        return call_result.ClearChargingProfile(status=self.answer)

    @on(Action.get_composite_schedule)
    async def on_get_composite_schedule(self, duration: int, evse_id: int, **kwargs: Any) -> Any:
        await self._smart("GetCompositeSchedule", {"duration": duration, "evse_id": evse_id, **kwargs})
        if self.answer != "Accepted":
            return call_result.GetCompositeSchedule(status=self.answer)
        periods = [{"start_period": 0, "limit": 7400.0}, {"start_period": 3600, "limit": 3700.0, "number_phases": 1}]
        schedule = {
            "evse_id": evse_id,
            "duration": duration,
            "schedule_start": "2026-12-01T22:00:00Z",
            "charging_rate_unit": kwargs.get("charging_rate_unit", "W"),
            "charging_schedule_period": periods,
        }
        return call_result.GetCompositeSchedule(status="Accepted", schedule=schedule)


class ReportingStation(SmartStation):
    """A SmartStation that reports its SmartChargingCtrlr variables (``rate_units``, ``periods_per_schedule``)."""

    rate_units = "W"
    periods_per_schedule = "3"

    @on(Action.get_variables)
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kwargs: Any) -> Any:
        await self._answer("GetVariables", {"get_variable_data": get_variable_data})
        known = {"RateUnit": self.rate_units, "PeriodsPerSchedule": self.periods_per_schedule}
        results = []
        for wanted in get_variable_data:
            name = wanted["variable"]["name"]
            found = wanted["component"]["name"] == "SmartChargingCtrlr" and name in known
            results.append(
                {
                    "attribute_status": "Accepted" if found else "UnknownVariable",
                    "component": wanted["component"],
                    "variable": wanted["variable"],
                    **({"attribute_value": known[name]} if found else {}),
                }
            )
        return call_result.GetVariables(get_variable_result=results)
