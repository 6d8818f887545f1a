"""Site load management, pure: a tree of circuits, the chargers on them, and each charger's limit.

The sum of the chargers' limits stays within every circuit's ``max_current_a`` (amperes per phase, every
charger counted on every phase: a single-phase charger may sit on any of them) and ``max_power_w`` (each charger
at 230 V times its phases) at every moment. A charger whose charger is offline keeps its last limit (``held_a``)
counted until its profile expires. The capacity is shared in two steps (``docs/scheduling.md`` "Load
management"):

1. **Admission**: the cars are taken by priority (higher first), then by arrival (earlier first); each gets its
   minimum current if that fits under every circuit above it, else it is paused (0 A) until capacity frees up.
2. **Share**: what is left is shared equally among the admitted cars of the highest priority (each up to its
   own limit: water filling, a full circuit freezes the cars under it), then among the next priority, and so on.
   With every priority equal this is an equal share.

Adding a car never raises another car's limit. Arithmetic is exact (``Fraction``); limits shown are floored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from fractions import Fraction

from cloudbay_domain.planner import VOLTAGE


class InvalidSite(ValueError):
    """A site whose circuits could never serve a charger on them, or whose tree is not a tree."""


@dataclass(frozen=True)
class Circuit:
    circuit_id: str
    max_current_a: Fraction | None = None
    max_power_w: Fraction | None = None
    children: tuple[Circuit, ...] = ()

    def walk(self, path: tuple[Circuit, ...] = ()) -> Iterable[tuple[Circuit, tuple[Circuit, ...]]]:
        """Every circuit under this one (itself first) with the circuits from the root down to it."""
        here = (*path, self)
        yield self, here
        for child in self.children:
            yield from child.walk(here)


@dataclass(frozen=True)
class ChargerLoad:
    """A charger on a circuit: its own limit and minimum, its priority, its car (since when) or its held limit."""

    station_id: str
    circuit_id: str
    max_current_a: Fraction
    min_current_a: Fraction = Fraction(0)
    phases: int = 3
    priority: int = 0
    arrived_at: datetime | None = None  # None: no car
    held_a: Fraction | None = None  # offline: the last limit it was sent, still counted
    held_until: datetime | None = None  # when that limit's profile expires (None: until told otherwise)

    def holds(self, at: datetime | None) -> bool:
        """Whether its held limit still counts at ``at`` (None: now, whatever the expiry)."""
        return self.held_a is not None and (at is None or self.held_until is None or at < self.held_until)

    @property
    def watts_per_amp(self) -> int:
        return VOLTAGE * self.phases


class Site:
    """A circuit tree and its chargers, checked: every charger's minimum fits under each circuit above it."""

    def __init__(self, root: Circuit, chargers: Sequence[ChargerLoad]) -> None:
        self.root = root
        self.paths: dict[str, tuple[Circuit, ...]] = {}
        for circuit, path in root.walk():
            if circuit.circuit_id in self.paths:
                raise InvalidSite(f"circuit {circuit.circuit_id} appears twice")
            for limit in (circuit.max_current_a, circuit.max_power_w):
                if limit is not None and limit < 0:
                    raise InvalidSite(f"circuit {circuit.circuit_id} has a negative limit")
            self.paths[circuit.circuit_id] = path
        self.chargers = {c.station_id: c for c in chargers}
        if len(self.chargers) != len(chargers):
            raise InvalidSite("a charger is assigned twice")
        for charger in chargers:
            self._check(charger)

    def _check(self, charger: ChargerLoad) -> None:
        if charger.circuit_id not in self.paths:
            raise InvalidSite(f"charger {charger.station_id} is on no circuit of the site ({charger.circuit_id})")
        if charger.min_current_a > charger.max_current_a:
            raise InvalidSite(f"charger {charger.station_id}: its minimum current is above its limit")
        for circuit in self.paths[charger.circuit_id]:
            amps = circuit.max_current_a
            watts = circuit.max_power_w
            if (amps is not None and amps < charger.min_current_a) or (
                watts is not None and watts < charger.min_current_a * charger.watts_per_amp
            ):
                raise InvalidSite(
                    f"circuit {circuit.circuit_id}'s limit is below the minimum current of charger "
                    f"{charger.station_id} ({charger.min_current_a} A): it could never charge"
                )

    def path(self, station_id: str) -> tuple[Circuit, ...]:
        return self.paths[self.chargers[station_id].circuit_id]

    def with_cars(self, cars: Mapping[str, datetime | None]) -> Site:
        """The same site with the cars given (station id -> arrival, None: gone); others unchanged."""
        changed = [
            ChargerLoad(**{**vars(c), "arrived_at": cars[c.station_id]}) if c.station_id in cars else c
            for c in self.chargers.values()
        ]
        site = Site.__new__(Site)
        site.root, site.paths, site.chargers = self.root, self.paths, {c.station_id: c for c in changed}
        return site


class _Room:
    """What is left of every circuit's limits as limits are handed out."""

    def __init__(self, site: Site) -> None:
        self.site = site
        self.amps: dict[str, Fraction | None] = {}
        self.watts: dict[str, Fraction | None] = {}
        for circuit, _ in site.root.walk():
            self.amps[circuit.circuit_id] = circuit.max_current_a
            self.watts[circuit.circuit_id] = circuit.max_power_w

    def fits(self, charger: ChargerLoad, amps: Fraction) -> bool:
        for circuit in self.site.path(charger.station_id):
            a, w = self.amps[circuit.circuit_id], self.watts[circuit.circuit_id]
            if (a is not None and a < amps) or (w is not None and w < amps * charger.watts_per_amp):
                return False
        return True

    def take(self, charger: ChargerLoad, amps: Fraction) -> None:
        for circuit in self.site.path(charger.station_id):
            key = circuit.circuit_id
            a, w = self.amps[key], self.watts[key]
            if a is not None:
                self.amps[key] = a - amps
            if w is not None:
                self.watts[key] = w - amps * charger.watts_per_amp

    def full(self, charger: ChargerLoad) -> bool:
        for circuit in self.site.path(charger.station_id):
            a, w = self.amps[circuit.circuit_id], self.watts[circuit.circuit_id]
            if (a is not None and a <= 0) or (w is not None and w <= 0):
                return True
        return False


def balance(site: Site, at: datetime | None = None) -> dict[str, Fraction]:
    """Each charger's limit in A at ``at``: its held limit when offline (until it expires; then 0), 0 without a
    car or when paused."""
    room = _Room(site)
    limits: dict[str, Fraction] = {}
    for charger in site.chargers.values():
        if charger.holds(at):
            assert charger.held_a is not None
            limits[charger.station_id] = charger.held_a
            room.take(charger, charger.held_a)
    cars = sorted(
        (c for c in site.chargers.values() if c.held_a is None and c.arrived_at is not None),
        key=lambda c: (-c.priority, c.arrived_at, c.station_id),
    )
    admitted: list[ChargerLoad] = []
    for car in cars:
        if room.fits(car, car.min_current_a):
            room.take(car, car.min_current_a)
            limits[car.station_id] = car.min_current_a
            admitted.append(car)
        else:
            limits[car.station_id] = Fraction(0)
    for priority in sorted({c.priority for c in admitted}, reverse=True):
        _water_fill(site, room, [c for c in admitted if c.priority == priority], limits)
    for charger in site.chargers.values():
        limits.setdefault(charger.station_id, Fraction(0))
    return limits


def _water_fill(site: Site, room: _Room, group: list[ChargerLoad], limits: dict[str, Fraction]) -> None:
    """Raise every car of ``group`` by the same amount until it reaches its limit or a circuit above it is full."""
    rising = [c for c in group if limits[c.station_id] < c.max_current_a and not room.full(c)]
    while rising:
        step = min(c.max_current_a - limits[c.station_id] for c in rising)
        amps: dict[str, int] = {}
        watts: dict[str, int] = {}
        for car in rising:
            for circuit in site.path(car.station_id):
                amps[circuit.circuit_id] = amps.get(circuit.circuit_id, 0) + 1
                watts[circuit.circuit_id] = watts.get(circuit.circuit_id, 0) + car.watts_per_amp
        for key, count in amps.items():
            left_a, left_w = room.amps[key], room.watts[key]
            if left_a is not None:
                step = min(step, left_a / count)
            if left_w is not None:
                step = min(step, left_w / watts[key])
        for car in rising:
            limits[car.station_id] += step
            room.take(car, step)
        rising = [c for c in rising if limits[c.station_id] < c.max_current_a and not room.full(c)]


EVERY_CAR_SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def safe_shares(site: Site) -> dict[str, Fraction]:
    """Each charger's share (A) when every charger of the site charges: what each may count on whatever the others
    do; together they fit every circuit."""
    return balance(site.with_cars({station_id: EVERY_CAR_SINCE for station_id in site.chargers}))
