"""A schedule quote: what one charger's cheapest plan would be under its tariff, without committing anything.

One of three requests: ``energy_wh`` by a deadline, as much as possible ``until`` one, or as much as possible for
at most ``max_price`` by one. The charger's limit is what it reported when the platform knows it, else the
default (16 A on three phases: 11,040 W); the EV's limits (``max_power_w``, ``phases``, ``min_current_a``) lower
it. A request that cannot be met is answered ``feasible: false`` with the best alternative: the energy reachable
by the deadline and the earliest time the energy is reachable at full power.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

from cloudbay_domain.planner import (
    VOLTAGE,
    EvLimits,
    InvalidPlanRequest,
    Plan,
    earliest_completion,
    grid,
    plan_budget,
    plan_energy,
    plan_until,
    slots,
)
from cloudbay_domain.tariff import PriceSeries, Tariff

DEFAULT_CURRENT_A = Fraction(16)
DEFAULT_PHASES = 3
MAX_HORIZON_DAYS = 7


@dataclass(frozen=True)
class QuoteRequest:
    by: datetime
    energy_wh: Fraction | None = None  # "energy": this much by ``by``
    max_price: Fraction | None = None  # "max_price": as much as this buys by ``by``; neither: "until"
    max_power_w: Fraction | None = None
    phases: int | None = None
    min_current_a: Fraction | None = None

    @property
    def mode(self) -> str:
        return "energy" if self.energy_wh is not None else "max_price" if self.max_price is not None else "until"


@dataclass(frozen=True)
class Alternative:
    energy_wh: Fraction  # reachable by the deadline
    earliest_by: datetime  # when the energy asked is reachable at full power


@dataclass(frozen=True)
class Quote:
    request: QuoteRequest
    tariff: Tariff
    limits: EvLimits
    plan: Plan
    alternative: Alternative | None

    @property
    def feasible(self) -> bool:
        return self.plan.feasible


def ev_limits(request: QuoteRequest, charger_current_a: Fraction = DEFAULT_CURRENT_A) -> EvLimits:
    phases = request.phases or DEFAULT_PHASES
    if not 1 <= phases <= 3:
        raise InvalidPlanRequest("phases is 1, 2 or 3")
    power = charger_current_a * VOLTAGE * phases
    if request.max_power_w is not None:
        if request.max_power_w <= 0:
            raise InvalidPlanRequest("max_power_w must be above 0")
        power = min(power, request.max_power_w)
    minimum = request.min_current_a or Fraction(0)
    if minimum < 0 or minimum * VOLTAGE * phases > power:
        raise InvalidPlanRequest("min_current_a must be from 0 to the current the charger and the EV allow")
    return EvLimits(power, phases, minimum)


def make_quote(
    tariff: Tariff,
    series: PriceSeries | None,
    request: QuoteRequest,
    now: datetime,
    charger_current_a: Fraction = DEFAULT_CURRENT_A,
) -> Quote:
    """The cheapest plan from ``now`` to the request's deadline under ``tariff`` (following ``series``)."""
    if request.by.tzinfo is None:
        raise InvalidPlanRequest("the deadline needs a UTC offset, such as 2026-12-02T07:00:00+01:00")
    if request.by <= now:
        raise InvalidPlanRequest("the deadline is in the past")
    if (request.by - now).days >= MAX_HORIZON_DAYS:
        raise InvalidPlanRequest(f"the deadline is at most {MAX_HORIZON_DAYS} days ahead")
    if request.energy_wh is not None and request.max_price is not None:
        raise InvalidPlanRequest("ask for energy_kwh or max_price, not both")
    limits = ev_limits(request, charger_current_a)
    if series is not None and series.currency != tariff.currency:
        series = None  # a series in another currency is not followed
    plan_slots = slots(grid(now, request.by), lambda at: tariff.price_at(at, series), lambda _: limits.max_power_w)
    if request.energy_wh is not None:
        plan = plan_energy(plan_slots, request.energy_wh, limits)
    elif request.max_price is not None:
        plan = plan_budget(plan_slots, request.max_price, limits)
    else:
        plan = plan_until(plan_slots, limits)
    alternative = None
    if not plan.feasible and request.energy_wh is not None:
        alternative = Alternative(plan.energy_wh, earliest_completion(now, request.energy_wh, limits))
    return Quote(request, tariff, limits, plan, alternative)


def money(value: Fraction, places: int = 2) -> Decimal:
    """An amount rounded half to even to ``places`` decimals."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)


def cost_of(
    energy_by_interval: list[tuple[datetime, Fraction]], tariff: Tariff, series: PriceSeries | None = None
) -> Fraction:
    """What energy cost under ``tariff``: each (start of a quarter hour or less, Wh) at the price then in force."""
    return sum((Fraction(tariff.price_at(at, series)) * wh / 1000 for at, wh in energy_by_interval), Fraction(0))
