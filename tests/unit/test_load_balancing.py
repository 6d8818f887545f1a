"""The load balancer and site planning: never above a charger's or any circuit's limit at any moment, shares
that never rise when a car arrives, plans within their shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.load_balancing import ChargerLoad, Circuit, InvalidSite, Site, balance
from cloudbay_domain.planner import grid
from cloudbay_domain.site_planning import CarRequest, plan_site

T0 = datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
amps = st.integers(min_value=6, max_value=400).map(Fraction)


@st.composite
def sites(draw: st.DrawFn) -> Site:
    """A site of one main circuit with up to three sub-circuits, and up to 8 chargers with or without a car."""
    subs = tuple(
        Circuit(f"sub-{n}", draw(st.none() | amps), draw(st.none() | amps.map(lambda a: a * 230)))
        for n in range(draw(st.integers(min_value=0, max_value=3)))
    )
    root = Circuit("main", draw(amps), draw(st.none() | amps.map(lambda a: a * 690)), subs)
    chargers = []
    for n in range(draw(st.integers(min_value=1, max_value=8))):
        circuit = draw(st.sampled_from(["main", *(s.circuit_id for s in subs)]))
        phases = draw(st.sampled_from([1, 3]))
        minimum = Fraction(draw(st.sampled_from([0, 6])))
        arrived = draw(st.none() | st.integers(min_value=0, max_value=100).map(lambda m: T0 + timedelta(minutes=m)))
        held = draw(st.none() | st.just(Fraction(0)) | st.just(minimum))
        chargers.append(
            ChargerLoad(
                f"CB-{n}", circuit, Fraction(draw(st.sampled_from([16, 32]))), minimum, phases,
                draw(st.integers(min_value=0, max_value=2)), arrived, held if n % 4 == 3 else None,
            )
        )  # fmt: skip
    try:
        return Site(root, chargers)
    except InvalidSite:
        return Site(root, [ChargerLoad(c.station_id, "main", c.max_current_a, Fraction(0)) for c in chargers])


def check_limits(site: Site, limits: dict[str, Fraction]) -> None:
    for station_id, charger in site.chargers.items():
        limit = limits[station_id]
        assert 0 <= limit <= max(charger.max_current_a, charger.held_a or 0)
        if charger.held_a is None and limit:
            assert limit >= charger.min_current_a and charger.arrived_at is not None
    for circuit, _ in site.root.walk():
        under = [c for c in site.chargers.values() if circuit in site.path(c.station_id)]
        if circuit.max_current_a is not None:
            assert sum(limits[c.station_id] for c in under) <= circuit.max_current_a
        if circuit.max_power_w is not None:
            assert sum(limits[c.station_id] * c.watts_per_amp for c in under) <= circuit.max_power_w


@settings(max_examples=100, deadline=None)
@given(sites())
def test_no_charger_or_circuit_is_ever_above_its_limit(site: Site) -> None:
    held = sum(c.held_a or 0 for c in site.chargers.values())
    if site.root.max_current_a is not None and held > site.root.max_current_a:
        return  # held limits alone above the circuit: the site was over before (tested below)
    check_limits(site, balance(site))


@settings(max_examples=100, deadline=None)
@given(sites(), st.data())
def test_a_car_arriving_never_raises_another_charger(site: Site, data: st.DataObject) -> None:
    empty = [c for c in site.chargers.values() if c.arrived_at is None and c.held_a is None]
    if not empty:
        return
    newcomer = data.draw(st.sampled_from(empty))
    before = balance(site)
    after = balance(site.with_cars({newcomer.station_id: T0 + timedelta(hours=3)}))

    for station_id, limit in before.items():
        if station_id != newcomer.station_id:
            assert after[station_id] <= limit


def test_equal_share_and_priority() -> None:
    root = Circuit("main", Fraction(32))
    cars = [ChargerLoad(f"CB-{n}", "main", Fraction(16), Fraction(6), 3, n // 2, T0) for n in range(3)]
    site = Site(root, cars)
    # CB-2 has priority 1: to its limit first, the rest shared equally
    assert balance(site) == {"CB-0": Fraction(8), "CB-1": Fraction(8), "CB-2": Fraction(16)}
    equal = Site(root, [ChargerLoad(f"CB-{n}", "main", Fraction(16), Fraction(6), 3, 0, T0) for n in range(3)])
    assert balance(equal) == {f"CB-{n}": Fraction(32, 3) for n in range(3)}


def test_a_car_that_does_not_fit_its_minimum_is_paused_and_an_offline_charger_keeps_its_limit() -> None:
    root = Circuit("main", Fraction(20))
    site = Site(
        root,
        [
            ChargerLoad("CB-0", "main", Fraction(16), Fraction(6), arrived_at=T0),
            ChargerLoad("CB-1", "main", Fraction(16), Fraction(6), arrived_at=T0 + timedelta(minutes=1)),
            ChargerLoad("CB-2", "main", Fraction(16), Fraction(6), held_a=Fraction(10)),
        ],
    )
    assert balance(site) == {"CB-0": Fraction(10), "CB-1": Fraction(0), "CB-2": Fraction(10)}
    expiring = site.with_cars({}).chargers["CB-2"]
    site.chargers["CB-2"] = ChargerLoad(**{**vars(expiring), "held_until": T0 + timedelta(hours=1)})
    assert balance(site, T0) == balance(site)
    after = balance(site, T0 + timedelta(hours=1))  # its profile expired: the capacity is shared again
    assert after == {"CB-0": Fraction(10), "CB-1": Fraction(10), "CB-2": Fraction(0)}


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (Circuit("main", Fraction(5)), "below the minimum current"),
        (Circuit("main", None, Fraction(3000)), "below the minimum current"),
        (Circuit("main", Fraction(32), None, (Circuit("main"),)), "twice"),
    ],
)
def test_a_site_limit_below_a_chargers_minimum_is_refused(root: Circuit, message: str) -> None:
    with pytest.raises(InvalidSite, match=message):
        Site(root, [ChargerLoad("CB-0", "main", Fraction(16), Fraction(6), 3)])


@settings(max_examples=100, deadline=None)
@given(sites(), st.lists(st.integers(min_value=1_000, max_value=30_000), min_size=8, max_size=8))
def test_cars_planned_together_stay_within_their_shares_and_every_circuit(site: Site, energies: list[int]) -> None:
    cuts = grid(T0, T0 + timedelta(hours=3))
    requests = [
        CarRequest(c.station_id, c.arrived_at, c.arrived_at + timedelta(hours=2), Fraction(energies[n]))
        for n, c in enumerate(site.chargers.values())
        if c.arrived_at is not None and c.held_a is None
    ]
    result = plan_site(site, requests, cuts, lambda at: Decimal("0.10") if at.minute < 30 else Decimal("0.30"))

    for k, (start, _) in enumerate(cuts):
        now: dict[str, Fraction] = {s: c.held_a or Fraction(0) for s, c in site.chargers.items()}
        for r in requests:
            plan = result.plans[r.station_id]
            for slot, power in zip(plan.slots, plan.powers, strict=True):
                charger = site.chargers[r.station_id]
                assert power <= result.shares[r.station_id][k] * charger.watts_per_amp or slot.start != start
                if slot.start == start:
                    now[r.station_id] = power / charger.watts_per_amp
        if site.root.max_current_a is None or sum(now.values()) <= site.root.max_current_a:
            check_limits(site, now)


def test_a_site_refusal_is_answered_as_a_422_problem() -> None:
    from adapters.http.errors import problem_for

    with pytest.raises(InvalidSite) as refused:
        Site(Circuit("main", Fraction(5)), [ChargerLoad("CB-0", "main", Fraction(16), Fraction(6))])
    problem = problem_for(refused.value)

    assert problem is not None and problem.status == 422
    assert (
        problem.detail
        == "circuit main's limit is below the minimum current of charger CB-0 (6 A): it could never charge"
    )
