"""Planning speed: plans per second for a 24-hour horizon at 15-minute resolution (a night tariff, an EV minimum
current, a random energy each plan), and the time to re-balance a 500-charger site when one car arrives (a main
circuit with ten sub-circuits of 50 chargers, 499 cars charging). Pure domain code; nothing is stored.
Prints the figures and the machine's core count; nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from fractions import Fraction

from cloudbay_domain.load_balancing import ChargerLoad, Circuit, Site, balance
from cloudbay_domain.planner import EvLimits, grid, plan_energy, slots
from cloudbay_domain.tariff import Tariff

T0 = datetime(2026, 12, 1, 18, 7, tzinfo=UTC)
TARIFF = Tariff.parse(
    {
        "currency": "CHF",
        "price_per_kwh": "0.27",
        "time_zone": "Europe/Zurich",
        "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"},
        "windows": [{"from": "12:00", "to": "14:00", "price_per_kwh": "0.15"}],
    }
)


def plans_per_second(count: int, seed: int) -> tuple[float, int]:
    """(plans per second, slots per plan) for ``count`` plans, each from building the slots to the plan."""
    rng = random.Random(seed)
    limits = EvLimits(Fraction(11_040), 3, Fraction(6))
    cuts = grid(T0, T0 + timedelta(hours=24))
    started = time.perf_counter()
    for _ in range(count):
        plan_slots = slots(cuts, TARIFF.price_at, lambda _: limits.max_power_w)
        plan = plan_energy(plan_slots, Fraction(rng.randint(1_000, 80_000)), limits)
        assert plan.feasible
    return count / (time.perf_counter() - started), len(cuts)


def site(chargers: int, circuits: int) -> Site:
    per = chargers // circuits
    subs = tuple(Circuit(f"sub-{n}", Fraction(per * 8)) for n in range(circuits))
    root = Circuit("main", Fraction(chargers * 6), Fraction(chargers * 6 * 690), subs)
    loads = [
        ChargerLoad(f"CB-{n:04d}", f"sub-{n // per}", Fraction(32), Fraction(6), 3, n % 3, T0 + timedelta(seconds=n))
        for n in range(chargers - 1)
    ]
    loads.append(ChargerLoad(f"CB-{chargers - 1:04d}", f"sub-{circuits - 1}", Fraction(32), Fraction(6), 3))
    return Site(root, loads)


def rebalance_ms(chargers: int, circuits: int, repeats: int) -> float:
    """Median ms to compute every charger's limit once the last charger's car arrives."""
    before = site(chargers, circuits)
    newcomer = f"CB-{chargers - 1:04d}"
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        limits = balance(before.with_cars({newcomer: T0 + timedelta(hours=1)}))
        times.append(time.perf_counter() - started)
        assert len(limits) == chargers
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=300)
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--circuits", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    rate, per_plan = plans_per_second(args.plans, args.seed)
    print(f"planning: {rate:,.0f} plans/s ({per_plan} slots of 15 minutes, 24 h, one process)")
    ms = rebalance_ms(args.chargers, args.circuits, args.repeats)
    print(
        f"re-balancing: {ms:.1f} ms for a {args.chargers}-charger site ({args.circuits} circuits) when one car arrives"
    )
    print(f"machine: {os.cpu_count()} cores (shared; the figures are of one core)")


if __name__ == "__main__":
    main()
