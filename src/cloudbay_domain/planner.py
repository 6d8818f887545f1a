"""The charge planner: pure, exact arithmetic (``Fraction``), no clock of its own.

A plan is a power per slot of a time grid (UTC quarter hours, the first and last possibly shorter). Each slot
has a price per kWh and a power cap (the charger's, the EV's and, on a site, the charger's share of its
circuits). With a linear cost and per-slot caps the cheapest plan for an energy is a fill of the cheapest slots
first, each up to its cap; an EV's minimum current makes a slot either off or at least that current: the fill
then starts every chosen slot at the minimum and tops up the cheapest (``docs/scheduling.md`` "The planner").

- ``plan_energy``: exactly ``energy_wh`` by the end of the grid, at the least cost; when that cannot be met,
  ``feasible`` is False and the plan is the most that can be (every slot at its cap).
- ``plan_until``: as much as possible by the end of the grid.
- ``plan_budget``: as much as possible for at most ``budget`` (the cheapest energy first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from cloudbay_domain.tariff import QUARTER

VOLTAGE = 230  # V per phase: amperes and watts convert at this voltage


class InvalidPlanRequest(ValueError):
    """A quote that cannot be planned: a deadline not in the future, energy or a budget not above zero."""


MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    price: Decimal  # per kWh
    cap_w: Fraction  # the most power allowed in the slot

    @functools.cached_property
    def hours(self) -> Fraction:
        # exact to the microsecond: a plan asked for just before a quarter hour starts with a slot under a second
        return Fraction((self.end - self.start) // MICROSECOND, 3_600_000_000)


@dataclass(frozen=True)
class EvLimits:
    """What the charger and the EV allow: the most power, the phases used and the least current when charging."""

    max_power_w: Fraction
    phases: int = 3
    min_current_a: Fraction = Fraction(0)

    @property
    def min_power_w(self) -> Fraction:
        return self.min_current_a * VOLTAGE * self.phases

    def current_a(self, power_w: Fraction) -> Fraction:
        return power_w / (VOLTAGE * self.phases)


@dataclass(frozen=True)
class Plan:
    slots: tuple[Slot, ...]
    powers: tuple[Fraction, ...]  # W per slot, 0 or at least the minimum, never above the slot's cap
    feasible: bool

    @property
    def energy_wh(self) -> Fraction:
        return sum((p * s.hours for p, s in zip(self.powers, self.slots, strict=True)), Fraction(0))

    @property
    def cost(self) -> Fraction:
        return sum((slot_cost(s, p) for p, s in zip(self.powers, self.slots, strict=True)), Fraction(0))


def slot_cost(slot: Slot, power_w: Fraction) -> Fraction:
    return Fraction(slot.price) * power_w * slot.hours / 1000


def grid(start: datetime, end: datetime, step: timedelta = QUARTER) -> list[tuple[datetime, datetime]]:
    """The slots from ``start`` to ``end`` (aware): cut at every UTC ``step`` boundary, so each lies in one
    quarter hour of every tariff (window bounds are on quarter hours, zone offsets are whole quarters)."""
    if end <= start:
        raise InvalidPlanRequest("the deadline must be after the start of the plan (in the future)")
    seconds = int(step.total_seconds())
    out: list[tuple[datetime, datetime]] = []
    at = start
    while at < end:
        boundary = datetime.fromtimestamp((int(at.timestamp()) // seconds + 1) * seconds, at.tzinfo)
        nxt = min(boundary, end)
        out.append((at, nxt))
        at = nxt
    return out


def slots(
    cuts: Sequence[tuple[datetime, datetime]], price: Callable[[datetime], Decimal], cap: Callable[[datetime], Fraction]
) -> list[Slot]:
    return [Slot(a, b, price(a), cap(a)) for a, b in cuts]


def _usable(slots: Sequence[Slot], min_w: Fraction) -> list[Fraction]:
    """Each slot's cap, 0 where the cap is below the minimum power (the slot cannot be used at all)."""
    return [s.cap_w if s.cap_w > 0 and s.cap_w >= min_w else Fraction(0) for s in slots]


def _order(slots: Sequence[Slot]) -> list[int]:
    """Slot indices cheapest first, earlier first among equal prices."""
    return sorted(range(len(slots)), key=lambda i: (slots[i].price, slots[i].start))


def _fill(
    slots: Sequence[Slot], caps: Sequence[Fraction], chosen: Sequence[int], energy: Fraction, min_w: Fraction
) -> tuple[list[Fraction], Fraction]:
    """Every chosen slot at the minimum, then the cheapest chosen ones topped up until ``energy``; with the
    energy still missing (0 when exact, below 0 when the minimums alone exceed it)."""
    powers = [Fraction(0)] * len(slots)
    left = energy
    for i in chosen:
        powers[i] = min_w
        left -= min_w * slots[i].hours
    for i in chosen:  # already cheapest first
        if left <= 0:
            break
        extra = min(caps[i] - powers[i], left / slots[i].hours)
        powers[i] += extra
        left -= extra * slots[i].hours
    return powers, left


def plan_until(slots: Sequence[Slot], limits: EvLimits) -> Plan:
    caps = _usable(slots, limits.min_power_w)
    return Plan(tuple(slots), tuple(caps), True)


def plan_energy(slots: Sequence[Slot], energy_wh: Fraction, limits: EvLimits) -> Plan:
    """The cheapest plan delivering exactly ``energy_wh``; when none, the most reachable (infeasible)."""
    if energy_wh <= 0:
        raise InvalidPlanRequest("energy_kwh must be above 0")
    min_w = limits.min_power_w
    caps = _usable(slots, min_w)
    order = [i for i in _order(slots) if caps[i] > 0]
    chosen: list[int] = []
    capacity = Fraction(0)
    for i in order:
        if capacity >= energy_wh:
            break
        chosen.append(i)
        capacity += caps[i] * slots[i].hours
    if capacity < energy_wh:  # every usable slot at its cap is not enough
        return Plan(tuple(slots), tuple(caps), False)
    candidates = _candidates(slots, caps, order, chosen, energy_wh, min_w)
    best: tuple[Fraction, list[Fraction]] | None = None
    for candidate in candidates:
        powers, left = _fill(slots, caps, candidate, energy_wh, min_w)
        if left != 0:
            continue
        if len(candidates) == 1:
            return Plan(tuple(slots), tuple(powers), True)
        cost = sum((slot_cost(slots[i], powers[i]) for i in candidate), Fraction(0))
        if best is None or cost < best[0]:
            best = (cost, powers)
    if best is not None:
        return Plan(tuple(slots), tuple(best[1]), True)
    return Plan(tuple(slots), tuple(_fill(slots, caps, chosen, energy_wh, min_w)[0]), False)


def _candidates(
    slots: Sequence[Slot],
    caps: Sequence[Fraction],
    order: list[int],
    chosen: list[int],
    energy: Fraction,
    min_w: Fraction,
) -> list[list[int]]:
    """The slots to switch on: the cheapest that hold ``energy``; when their minimums alone exceed it (a minimum
    current), also that set with each other slot added, each thinned two ways (see ``_thin``)."""
    if _minimum(slots, chosen, min_w) <= energy:
        return [chosen]
    rank = {i: n for n, i in enumerate(order)}
    out = [_thin(slots, caps, chosen, energy, min_w, large_first) for large_first in (False, True)]
    for extra in order:
        if extra not in chosen:
            wider = sorted([*chosen, extra], key=rank.__getitem__)
            out += [_thin(slots, caps, wider, energy, min_w, large_first) for large_first in (False, True)]
    return out


def _minimum(slots: Sequence[Slot], ids: Sequence[int], min_w: Fraction) -> Fraction:
    return sum((min_w * slots[i].hours for i in ids), Fraction(0))


def _thin(
    slots: Sequence[Slot],
    caps: Sequence[Fraction],
    chosen: list[int],
    energy: Fraction,
    min_w: Fraction,
    large_first: bool,
) -> list[int]:
    """Drop slots while the minimums alone exceed ``energy`` and the rest still holds it: the smallest (or the
    largest) capacity first, the most expensive among equals."""
    chosen = list(chosen)

    def capacity(ids: Sequence[int]) -> Fraction:
        return sum((caps[i] * slots[i].hours for i in ids), Fraction(0))

    while chosen and _minimum(slots, chosen, min_w) > energy:
        sign = -1 if large_first else 1
        for i in sorted(chosen, key=lambda j: (sign * caps[j] * slots[j].hours, -chosen.index(j))):
            rest = [j for j in chosen if j != i]
            if capacity(rest) >= energy:
                chosen = rest
                break
        else:
            break
    return chosen


def plan_budget(slots: Sequence[Slot], budget: Fraction, limits: EvLimits) -> Plan:
    """The most energy for at most ``budget``: the cheapest slots first, each at its cap while the money lasts."""
    if budget <= 0:
        raise InvalidPlanRequest("max_price must be above 0")
    min_w = limits.min_power_w
    caps = _usable(slots, min_w)
    powers = [Fraction(0)] * len(slots)
    left = budget
    for i in _order(slots):
        if caps[i] == 0:
            continue
        unit = slot_cost(slots[i], Fraction(1))  # the cost of one watt over the slot
        power = caps[i] if unit == 0 else min(caps[i], left / unit)
        if power <= 0 or power < min_w:
            continue
        powers[i] = power
        left -= power * unit
    plan = Plan(tuple(slots), tuple(powers), True)
    return Plan(plan.slots, plan.powers, plan.energy_wh > 0)


def earliest_completion(start: datetime, energy_wh: Fraction, limits: EvLimits) -> datetime:
    """When ``energy_wh`` is reached at the charger's and EV's full power from ``start``."""
    hours = energy_wh / limits.max_power_w
    return start + timedelta(seconds=float(hours * 3600))


def to_decimal(value: Fraction, places: int) -> Decimal:
    """``value`` rounded down to ``places`` decimals (a limit shown never exceeds the planned one)."""
    scale = 10**places
    return (Decimal(value.numerator * scale // value.denominator) / scale).quantize(Decimal(1).scaleb(-places))
