"""The planner: never above a cap, exactly the energy asked when feasible, and the cheapest plan on the grid
(checked against ``scipy.optimize.linprog`` without a minimum current, and against every subset of slots with one)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.planner import (
    EvLimits,
    InvalidPlanRequest,
    Plan,
    Slot,
    earliest_completion,
    grid,
    plan_budget,
    plan_energy,
    plan_until,
    slots,
)
from cloudbay_domain.tariff import Tariff

T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
prices = st.integers(min_value=0, max_value=60).map(lambda n: Decimal(n) / 100)
caps = st.integers(min_value=0, max_value=22_000).map(Fraction)


@st.composite
def grids(draw: st.DrawFn, max_slots: int = 6, uniform: bool = False) -> list[Slot]:
    n = draw(st.integers(min_value=1, max_value=max_slots))
    first = 15 if uniform else draw(st.sampled_from([5, 15]))  # a short first slot, like a plan starting mid-quarter
    cap = draw(caps)
    out, at = [], T0
    for k in range(n):
        length = timedelta(minutes=first if k == 0 else 15)
        out.append(Slot(at, at + length, draw(prices), cap if uniform else draw(caps)))
        at += length
    return out


def check_within_caps(plan: Plan, limits: EvLimits) -> None:
    for slot, power in zip(plan.slots, plan.powers, strict=True):
        assert 0 <= power <= slot.cap_w and power <= limits.max_power_w
        assert power == 0 or power >= limits.min_power_w


def reachable(plan_slots: list[Slot], limits: EvLimits) -> Fraction:
    return sum((s.cap_w * s.hours for s in plan_slots if s.cap_w >= limits.min_power_w), Fraction(0))


def lp_cost(plan_slots: list[Slot], energy: Fraction) -> float:
    from scipy.optimize import linprog

    cost = [float(s.price) * float(s.hours) / 1000 for s in plan_slots]
    result = linprog(
        cost,
        A_eq=[[float(s.hours) for s in plan_slots]],
        b_eq=[float(energy)],
        bounds=[(0, float(s.cap_w)) for s in plan_slots],
        method="highs",
    )
    assert result.status == 0
    return float(result.fun)


def subset_cost(plan_slots: list[Slot], energy: Fraction, min_w: Fraction) -> Fraction | None:
    """The cheapest plan by brute force over which slots are on (each on slot between the minimum and its cap)."""
    best: Fraction | None = None
    usable = [i for i, s in enumerate(plan_slots) if s.cap_w > 0 and s.cap_w >= min_w]
    for k in range(1, len(usable) + 1):
        for on in itertools.combinations(usable, k):
            low = sum((min_w * plan_slots[i].hours for i in on), Fraction(0))
            high = sum((plan_slots[i].cap_w * plan_slots[i].hours for i in on), Fraction(0))
            if not low <= energy <= high:
                continue
            cost, left = Fraction(0), energy - low
            for i in sorted(on, key=lambda j: plan_slots[j].price):
                s = plan_slots[i]
                extra = min(s.cap_w - min_w, left / s.hours)
                left -= extra * s.hours
                cost += Fraction(s.price) * (min_w + extra) * s.hours / 1000
            best = cost if best is None or cost < best else best
    return best


@settings(max_examples=150, deadline=None)
@given(grids(), st.integers(min_value=1, max_value=40_000).map(Fraction))
def test_without_a_minimum_the_plan_is_the_linear_optimum(plan_slots: list[Slot], energy: Fraction) -> None:
    limits = EvLimits(Fraction(22_000))
    plan = plan_energy(plan_slots, energy, limits)

    check_within_caps(plan, limits)
    if reachable(plan_slots, limits) >= energy:
        assert plan.feasible and plan.energy_wh == energy
        assert float(plan.cost) <= lp_cost(plan_slots, energy) + 1e-9
    else:
        assert not plan.feasible and plan.energy_wh == reachable(plan_slots, limits)


@settings(max_examples=150, deadline=None)
@given(grids(uniform=True), st.integers(min_value=1, max_value=40_000).map(Fraction), st.sampled_from([6, 8, 10]))
def test_with_a_minimum_current_the_plan_is_the_cheapest_subset(
    plan_slots: list[Slot], energy: Fraction, min_a: int
) -> None:
    limits = EvLimits(Fraction(22_000), 3, Fraction(min_a))
    plan = plan_energy(plan_slots, energy, limits)

    check_within_caps(plan, limits)
    best = subset_cost(plan_slots, energy, limits.min_power_w)
    if best is None:
        assert not plan.feasible
    else:
        assert plan.feasible and plan.energy_wh == energy and plan.cost == best


@settings(max_examples=100, deadline=None)
@given(grids(), st.integers(min_value=1, max_value=40_000).map(Fraction), st.sampled_from([0, 6, 16]))
def test_any_plan_keeps_every_limit_and_a_feasible_one_the_energy(
    plan_slots: list[Slot], energy: Fraction, min_a: int
) -> None:
    limits = EvLimits(Fraction(11_040), 3, Fraction(min_a))
    capped = [Slot(s.start, s.end, s.price, min(s.cap_w, limits.max_power_w)) for s in plan_slots]
    plan = plan_energy(capped, energy, limits)

    check_within_caps(plan, limits)
    if plan.feasible:
        assert plan.energy_wh == energy
        best = subset_cost(capped, energy, limits.min_power_w)
        assert best is not None and plan.cost >= best
    check_within_caps(plan_until(capped, limits), limits)


@settings(max_examples=100, deadline=None)
@given(grids(), st.integers(min_value=1, max_value=500).map(lambda n: Fraction(n, 100)))
def test_a_budget_buys_the_most_energy_it_can(plan_slots: list[Slot], budget: Fraction) -> None:
    from scipy.optimize import linprog

    limits = EvLimits(Fraction(22_000))
    plan = plan_budget(plan_slots, budget, limits)

    check_within_caps(plan, limits)
    assert plan.cost <= budget
    result = linprog(
        [-float(s.hours) for s in plan_slots],
        A_ub=[[float(s.price) * float(s.hours) / 1000 for s in plan_slots]],
        b_ub=[float(budget)],
        bounds=[(0, float(s.cap_w)) for s in plan_slots],
        method="highs",
    )
    assert float(plan.energy_wh) >= -result.fun - 1e-6


def test_sixty_kwh_by_six_at_seven_kw_is_not_feasible_and_says_what_is() -> None:
    limits, start = EvLimits(Fraction(7_000)), datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    cuts = grid(start, datetime(2026, 12, 2, 6, 0, tzinfo=UTC))
    plan = plan_energy(slots(cuts, lambda _: Decimal("0.27"), lambda _: limits.max_power_w), Fraction(60_000), limits)

    assert not plan.feasible and plan.energy_wh == 7_000 * 7
    assert earliest_completion(start, Fraction(60_000), limits) == start + timedelta(seconds=60 / 7 * 3600)


def test_the_night_tariff_is_used_first() -> None:
    tariff = Tariff.parse(
        {
            "currency": "CHF",
            "price_per_kwh": "0.27",
            "time_zone": "Europe/Zurich",
            "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"},
        }
    )
    limits = EvLimits(Fraction(11_000))
    cuts = grid(T0, datetime.fromisoformat("2026-12-02T07:00:00+01:00"))
    plan = plan_energy(slots(cuts, tariff.price_at, lambda _: limits.max_power_w), Fraction(30_000), limits)

    assert plan.feasible and plan.energy_wh == 30_000 and plan.cost == Fraction("5.4")
    used = [s.start for s, p in zip(plan.slots, plan.powers, strict=True) if p]
    assert used[0] == datetime(2026, 12, 1, 21, 0, tzinfo=UTC)  # 22:00 in Zurich


@pytest.mark.parametrize(
    ("day", "cost"),
    [
        (datetime(2026, 10, 24, 12, 0, tzinfo=UTC), Fraction("0.9")),  # nine night hours: all 9 kWh at 0.10
        (datetime(2026, 3, 28, 12, 0, tzinfo=UTC), Fraction("1.3")),  # seven: 7 kWh at 0.10, 2 at 0.30
    ],
)
def test_plans_across_both_dst_changes_use_the_night_as_it_is_that_night(day: datetime, cost: Fraction) -> None:
    tariff = Tariff.parse(
        {
            "currency": "CHF",
            "price_per_kwh": "0.30",
            "time_zone": "Europe/Zurich",
            "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.10"},
        }
    )
    limits = EvLimits(Fraction(1_000))
    cuts = grid(day, day + timedelta(hours=24))
    plan = plan_energy(slots(cuts, tariff.price_at, lambda _: limits.max_power_w), Fraction(9_000), limits)

    assert plan.feasible and plan.energy_wh == 9_000 and plan.cost == cost


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: grid(T0, T0), "deadline"),
        (lambda: plan_energy([], Fraction(0), EvLimits(Fraction(1))), "energy_kwh"),
        (lambda: plan_budget([], Fraction(-1), EvLimits(Fraction(1))), "max_price"),
    ],
)
def test_bad_requests_are_refused(call: object, message: str) -> None:
    with pytest.raises(InvalidPlanRequest, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize("before", [timedelta(microseconds=1), timedelta(milliseconds=400), timedelta(seconds=1.5)])
def test_a_plan_asked_for_just_before_a_quarter_hour_starts_with_its_short_slot(before: timedelta) -> None:
    limits, start = EvLimits(Fraction(7_000), min_current_a=Fraction(6)), T0 - before  # first slot: < 2 s
    cuts = grid(start, T0 + timedelta(hours=3))
    plan = plan_energy(slots(cuts, lambda _: Decimal("0.27"), lambda _: limits.max_power_w), Fraction(5_000), limits)
    assert plan.feasible and plan.energy_wh == 5_000
    assert cuts[0][1] - cuts[0][0] == before
