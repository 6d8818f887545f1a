"""Planning every car on a site together: the balancer shares each slot's capacity among the cars present in it
(``load_balancing.balance``), then each car's cheapest plan is made within its share (``planner``). A plan never
exceeds its share, and the shares never exceed a circuit, so the plans together never do. A car arriving or
leaving, a charger going offline (its held limit) or a changed plan is one more call with the new facts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction

from cloudbay_domain.load_balancing import ChargerLoad, Site, balance
from cloudbay_domain.planner import EvLimits, Plan, Slot, plan_energy, plan_until


@dataclass(frozen=True)
class CarRequest:
    """A car on a charger of the site, from ``arrived_at`` until ``by``: ``energy_wh`` (None: as much as possible)."""

    station_id: str
    arrived_at: datetime
    by: datetime
    energy_wh: Fraction | None = None
    max_power_w: Fraction | None = None  # the EV's own limit, if lower than the charger's


@dataclass(frozen=True)
class SitePlan:
    shares: Mapping[str, tuple[Fraction, ...]]  # A per slot, each car's share of the site
    plans: Mapping[str, Plan]


def _present(site: Site, requests: Sequence[CarRequest], at: datetime) -> Site:
    cars: dict[str, datetime | None] = {station_id: None for station_id in site.chargers}
    for r in requests:
        if r.arrived_at <= at < r.by:
            cars[r.station_id] = r.arrived_at
    return site.with_cars(cars)


def _ev_limited(site: Site, requests: Sequence[CarRequest]) -> Site:
    """The site with each charger's limit lowered to its car's, so no share is handed to a car that cannot use it."""
    chargers = dict(site.chargers)
    for r in requests:
        charger = chargers[r.station_id]
        if r.max_power_w is not None:
            amps = min(charger.max_current_a, r.max_power_w / charger.watts_per_amp)
            chargers[r.station_id] = ChargerLoad(**{**vars(charger), "max_current_a": max(amps, charger.min_current_a)})
    return Site(site.root, list(chargers.values()))


def plan_site(
    site: Site,
    requests: Sequence[CarRequest],
    cuts: Sequence[tuple[datetime, datetime]],
    price: Callable[[datetime], Decimal],
) -> SitePlan:
    """Every car's share of every slot of ``cuts`` and its cheapest plan within it."""
    limited = _ev_limited(site, requests)
    per_slot = [balance(_present(limited, requests, start), start) for start, _ in cuts]
    shares = {r.station_id: tuple(slot[r.station_id] for slot in per_slot) for r in requests}
    plans: dict[str, Plan] = {}
    for r in requests:
        charger = limited.chargers[r.station_id]
        limits = EvLimits(charger.max_current_a * charger.watts_per_amp, charger.phases, charger.min_current_a)
        own = [
            Slot(a, b, price(a), share * charger.watts_per_amp)
            for (a, b), share in zip(cuts, shares[r.station_id], strict=True)
            if r.arrived_at <= a < r.by
        ]
        if r.energy_wh is None:
            plans[r.station_id] = plan_until(own, limits)
        else:
            plans[r.station_id] = plan_energy(own, r.energy_wh, limits)
    return SitePlan(shares, plans)
