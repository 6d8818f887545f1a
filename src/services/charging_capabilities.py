"""What a charger's smart charging takes, as it reports it: ``SmartChargingCtrlr.RateUnit`` (A, W or both) and
``SmartChargingCtrlr.PeriodsPerSchedule``, read with GetVariables (B06) when a schedule is sent. A charger that
does not answer them (a CALLERROR, Rejected, an unknown variable, a value that is no number) is sent amperes and
at most ``DEFAULT_MAX_PERIODS`` periods: every OCPP 2.0.1 charger takes amperes."""

from __future__ import annotations

from dataclasses import dataclass

from cloudbay_domain.charging_schedule import DEFAULT_MAX_PERIODS, DEFAULT_RATE_UNIT
from services.ports import ChargerLink, GetVariable, LinkError

COMPONENT = "SmartChargingCtrlr"
MOST_PERIODS = 1024  # a charger reporting more is taken at this


@dataclass(frozen=True)
class Capabilities:
    rate_unit: str = DEFAULT_RATE_UNIT
    max_periods: int = DEFAULT_MAX_PERIODS


async def _read(link: ChargerLink, station_id: str, variable: str) -> str | None:
    try:
        answer = await link.request(station_id, GetVariable(COMPONENT, variable))
    except LinkError:
        return None
    return answer.value if answer.status == "Accepted" else None


async def capabilities_of(link: ChargerLink, station_id: str) -> Capabilities:
    """The rate unit to send (amperes when the charger lists them, else watts when it lists only those) and the
    most periods a schedule may have, as the charger reports them; the defaults for what it does not."""
    units = {u.strip() for u in (await _read(link, station_id, "RateUnit") or "").split(",")}
    rate_unit = "W" if "W" in units and "A" not in units else DEFAULT_RATE_UNIT
    periods = await _read(link, station_id, "PeriodsPerSchedule")
    try:
        most = min(MOST_PERIODS, int(periods)) if periods is not None else DEFAULT_MAX_PERIODS
    except ValueError:
        most = DEFAULT_MAX_PERIODS
    return Capabilities(rate_unit, most if most >= 1 else DEFAULT_MAX_PERIODS)
