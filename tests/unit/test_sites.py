"""Sites and circuits (``SiteLayout``): what a layout refuses, and the live re-balancing (``LoadManager``) against
chargers that apply each limit the moment they get it: the sum of what they apply never exceeds a circuit."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from adapters.rollout_rounds import rollout_rounds, site_round
from cloudbay_domain.load_balancing import InvalidSite
from cloudbay_domain.sites import Node, Placement, SiteConflict, SiteLayout, UnknownSite
from services.load_management import LOAD_PROFILE_ID, LimitProfile, LoadManager
from services.ports import ChargerOffline, ClearChargingProfile, StatusAnswer

T0 = datetime(2026, 12, 2, 18, 0, tzinfo=UTC)


def node(node_id: str, parent: str | None = None, amps: int | None = 32, watts: int | None = None) -> Node:
    return Node(
        node_id,
        node_id.title(),
        parent,
        Decimal(amps) if amps is not None else None,
        Decimal(watts) if watts is not None else None,
        "o@x",
    )


def layout() -> SiteLayout:
    site = SiteLayout()
    site.set_node(node("home", amps=32))
    site.set_node(node("garage", "home", amps=20))
    return site


def test_a_layout_is_a_tree_of_positive_limits() -> None:
    site = layout()
    with pytest.raises(InvalidSite, match="above 0"):
        site.set_node(node("zero", amps=0))
    with pytest.raises(InvalidSite, match="above 0"):
        site.set_node(Node("neg", "Neg", None, Decimal(-1), None, "o@x"))
    with pytest.raises(InvalidSite, match="max_current_a, max_power_w"):
        site.set_node(node("none", amps=None))
    with pytest.raises(InvalidSite, match="parent nope"):
        site.set_node(node("lost", "nope"))
    with pytest.raises(InvalidSite, match="under itself"):
        site.set_node(node("home", "garage"))  # the site under its own circuit: a cycle
    with pytest.raises(InvalidSite, match="under itself"):
        site.set_node(node("garage", "garage"))
    assert site.set_node(node("garage", "home", amps=50)) == ["home"]  # above its parent: the parent still caps
    with pytest.raises(SiteConflict):
        site.remove_node("home")
    with pytest.raises(UnknownSite):
        site.node("nope")


def test_a_circuit_must_cover_the_minimums_of_its_chargers() -> None:
    site = layout()
    site.assign("CB-1", Placement("garage", min_current_a=Decimal(6)))
    site.assign("CB-2", Placement("garage", min_current_a=Decimal(6)))
    site.assign("CB-3", Placement("garage", min_current_a=Decimal(6)))
    with pytest.raises(InvalidSite, match="below the sum of the minimum currents of its 4 chargers"):
        site.assign("CB-4", Placement("garage", min_current_a=Decimal(6)))
    with pytest.raises(InvalidSite, match="below the sum"):
        site.set_node(node("garage", "home", amps=17))
    with pytest.raises(InvalidSite, match="minimum powers"):
        site.set_node(node("garage", "home", amps=None, watts=12000))
    assert site.assign("CB-3", Placement("home")) == ["home"]  # moved: on one circuit only
    assert site.chargers_on("garage").keys() == {"CB-1", "CB-2"} and site.site_of("CB-3") == "home"
    with pytest.raises(InvalidSite, match="min_current_a"):
        site.assign("CB-5", Placement("home", max_current_a=Decimal(6), min_current_a=Decimal(10)))
    site.remove_node("garage")
    assert set(site.placements) == {"CB-3"}  # its chargers are no longer assigned


def test_a_layout_survives_its_events() -> None:
    site = layout()
    site.assign("CB-1", Placement("garage", priority=2, max_current_a=Decimal("32"), phases=1))
    copy: Any = None
    for recorded in site.collect_events():
        copy = recorded.mutate(copy)
    assert copy.nodes == site.nodes and copy.placements == site.placements


# --- the live re-balancing, against chargers that apply what they get --------------------------------


@dataclass
class Station:
    running: dict[int, str] = field(default_factory=dict)


class Fleet:
    """Chargers, their link and what each one applies; checks every circuit at each profile it takes."""

    def __init__(self, site: SiteLayout) -> None:
        self.site = site
        self.listeners: list[Any] = []
        self.stations = {s: Station() for s in site.placements}
        self.online = set(self.stations)
        self.profiles: dict[str, LimitProfile] = {}  # what each applies (none: never limited, its maximum)
        self.refusing: set[str] = set()
        self.sends = 0
        self.cleared: list[str] = []
        self.clock = T0

    def layout(self) -> SiteLayout:
        return self.site

    recent_layout = fresh_layout = layout  # never stale here: every change is made in this process

    def get(self, station_id: str) -> Station:
        return self.stations[station_id]

    def is_reachable(self, station_id: str) -> bool:
        return station_id in self.online

    async def request(self, station_id: str, request: Any, timeout: float | None = None) -> Any:
        assert isinstance(request, ClearChargingProfile) and request.profile_id == LOAD_PROFILE_ID
        if station_id not in self.online:
            raise ChargerOffline(station_id)
        self.profiles.pop(station_id, None)
        self.cleared.append(station_id)
        return StatusAnswer("Accepted")

    async def send(self, station_id: str, profile: LimitProfile) -> str:
        await asyncio.sleep(0)
        if station_id not in self.online:
            raise ChargerOffline(station_id)
        if station_id in self.refusing:
            return "Rejected"
        self.profiles[station_id] = profile
        self.sends += 1
        self.check()
        return "Accepted"

    @property
    def applied(self) -> dict[str, Fraction]:
        """What each charger lets its car draw now (falling back to its safe share when not renewed)."""
        return {s: self.profiles[s].at(self.clock) if s in self.profiles else Fraction(16) for s in self.stations}

    def check(self) -> None:
        """The sum of what the chargers with a car may draw under each circuit fits."""
        drawing = {s: a for s, a in self.applied.items() if self.stations[s].running}
        for circuit, _ in self.site.balanced("home").root.walk():
            under = {c.circuit_id for c, _ in circuit.walk()}
            on = {
                s: a
                for s, a in drawing.items()
                if s in self.site.placements and self.site.placements[s].circuit in under
            }
            total = sum(on.values())
            watts = sum(a * 230 * self.site.placements[s].phases for s, a in on.items())
            assert circuit.max_current_a is None or total <= circuit.max_current_a, (circuit.circuit_id, self.applied)
            assert circuit.max_power_w is None or watts <= circuit.max_power_w, (circuit.circuit_id, self.applied)


async def run(fn: Any, *args: Any) -> Any:
    return fn(*args)


def manager(fleet: Fleet) -> LoadManager:
    return LoadManager(fleet, fleet, fleet, run, fleet.send, lambda: fleet.clock)  # type: ignore[arg-type]


def site_of(chargers: int) -> SiteLayout:
    """A 32 A site with a 20 A, 13 kW garage under it; chargers alternate between the two, on 3 or 1 phases."""
    site = layout()
    site.set_node(node("garage", "home", amps=20, watts=13_000))
    for n in range(chargers):
        placement = Placement(
            "garage" if n % 2 else "home",
            priority=n % 3,
            min_current_a=Decimal(n % 2 * 6),
            phases=3 if n % 4 < 2 else 1,
        )
        site.assign(f"CB-{n}", placement)
    return site


def test_cars_share_the_site_and_a_departure_raises_the_others() -> None:
    fleet = Fleet(site_of(3))
    load = manager(fleet)

    async def scenario() -> None:
        await load.rebalance("home")  # no car: every charger is held at 0 A
        assert set(fleet.applied.values()) == {0}
        for n in range(3):
            fleet.stations[f"CB-{n}"].running = {1: f"TX-{n}"}
            await load.rebalance("home")
        assert sum(fleet.applied.values()) <= 32 and fleet.applied["CB-1"] <= 20
        fleet.stations["CB-0"].running = {}
        await load.rebalance("home")
        assert fleet.applied["CB-0"] == 0 and fleet.applied["CB-1"] + fleet.applied["CB-2"] == 32

    asyncio.run(scenario())


def test_an_offline_charger_keeps_counting_and_a_refused_lower_limit_is_planned_around() -> None:
    site = layout()
    for n in range(3):
        site.assign(f"CB-{n}", Placement("home", max_current_a=Decimal(32)))  # equal priorities, 32 A chargers
    fleet = Fleet(site)
    load = manager(fleet)

    async def scenario() -> None:
        await load.rebalance("home")  # no car yet: every charger at 0 A
        for n in range(3):
            fleet.stations[f"CB-{n}"].running = {1: f"TX-{n}"}
        await load.rebalance("home")
        assert fleet.applied["CB-0"] == Fraction(106, 10)
        fleet.online.discard("CB-0")  # its last limit still counts
        fleet.stations["CB-1"].running = {}
        await load.rebalance("home")
        assert fleet.applied["CB-0"] == Fraction(106, 10) and fleet.applied["CB-2"] == Fraction(214, 10)
        fleet.refusing.add("CB-2")
        fleet.stations["CB-1"].running = {1: "TX-9"}
        await load.rebalance("home")  # CB-2 refuses to go down: CB-1 gets only what is left
        assert fleet.applied["CB-1"] == 0 and fleet.applied["CB-2"] == Fraction(214, 10)
        fleet.check()

    asyncio.run(scenario())


def test_a_raised_limit_is_renewed_before_it_falls_back_to_the_safe_share() -> None:
    site = layout()
    for n in range(3):
        site.assign(f"CB-{n}", Placement("home"))  # equal priorities
    fleet = Fleet(site)
    load = manager(fleet)

    async def scenario() -> None:
        fleet.stations["CB-0"].running = {1: "TX"}
        await load.rebalance("home")
        first = fleet.profiles["CB-0"]
        assert first.amps == 16 and first.safe_amps == Fraction(106, 10)  # 32 A among 3 when all charge
        fleet.clock += timedelta(minutes=10)
        await load.renew()
        assert fleet.profiles["CB-0"] is first  # not due yet
        fleet.clock += timedelta(minutes=10)
        await load.renew()
        assert fleet.profiles["CB-0"].until == fleet.clock + timedelta(minutes=30)
        fleet.online.discard("CB-0")
        fleet.clock += timedelta(hours=1)  # not renewed: it falls back on its own
        assert fleet.applied["CB-0"] == Fraction(106, 10)

    asyncio.run(scenario())


def test_a_charger_taken_off_its_site_has_its_limit_cleared_now_or_at_its_boot() -> None:
    fleet = Fleet(site_of(3))
    load = manager(fleet)

    async def scenario() -> None:
        await load.rebalance("home")
        fleet.site.unassign("CB-0")
        await load.rebalance("home")
        assert fleet.cleared == ["CB-0"] and "CB-0" not in load.sent
        fleet.online.discard("CB-1")
        fleet.site.remove_node("garage")  # CB-1 was on it, offline now
        await load.rebalance("home")
        assert fleet.cleared == ["CB-0"] and "CB-1" in load.releasing
        fleet.online.add("CB-1")
        await load.after_boot("CB-1")
        assert fleet.cleared == ["CB-0", "CB-1"] and not load.releasing

    asyncio.run(scenario())


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=2, max_value=6), st.lists(st.tuples(st.integers(0, 5), st.sampled_from("aloru")), max_size=14)
)
@example(3, [(0, "a"), (0, "o"), (2, "a"), (1, "a")])  # a car beside an offline charger holding 32 A
@example(4, [(0, "a"), (1, "a"), (3, "u"), (3, "a"), (1, "l"), (2, "a")])
@example(4, [(3, "a"), (3, "u"), (1, "a"), (1, "r")])  # a boot beside a charger refusing to go lower
def test_no_circuit_is_ever_over_its_limit_while_cars_come_and_go(chargers: int, steps: list[tuple[int, str]]) -> None:
    """a: arrives, l: leaves, o: goes offline, r: comes back (and boots), u: refuses lower limits."""
    fleet = Fleet(site_of(chargers))
    load = manager(fleet)

    async def scenario() -> None:
        await load.rebalance("home")
        for n, what in steps:
            station_id = f"CB-{n % chargers}"
            fleet.clock += timedelta(minutes=7)
            if what == "a":
                fleet.stations[station_id].running = {1: "TX"}
            elif what == "l":
                fleet.stations[station_id].running = {}
            elif what == "o":
                fleet.online.discard(station_id)
            elif what == "r":
                fleet.online.add(station_id)
                fleet.refusing.discard(station_id)
            else:
                fleet.refusing.add(station_id)
            if what == "r":
                await load.after_boot(station_id)
            else:
                await load.rebalance("home")
            fleet.check()

    asyncio.run(scenario())


def test_the_site_round_renews_every_site_and_survives_a_failure() -> None:
    renewed: list[int] = []

    class Load:
        async def renew(self) -> None:
            renewed.append(1)
            if len(renewed) == 1:
                raise RuntimeError("one failing round is logged, the next runs")

    runtime: Any = SimpleNamespace(platform=SimpleNamespace(load=Load()))

    async def scenario() -> None:
        async with rollout_rounds(runtime, 0.001, step=site_round):
            while len(renewed) < 3:
                await asyncio.sleep(0.001)

    asyncio.run(scenario())
