"""Live load management speed: the time the load manager takes to re-balance a site when one car arrives, from
reading which chargers have a car to the last profile answered (a site of ten circuits of 50 chargers, 499 cars
charging; chargers that answer at once, in memory, so this is the manager's own cost), and how many profiles
that sends. The main circuit's limit (7 A a charger, less 1 A) makes the arrival lower every car's limit by a
tenth of an ampere: the worst case, every charger is sent a profile. Prints the figures and the machine's core
count; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from cloudbay_domain.sites import Node, Placement, SiteLayout
from services.load_management import LimitProfile, LoadManager


@dataclass
class Charger:
    running: dict[int, str] = field(default_factory=dict)


class Fleet:
    """The layout, the chargers and a link to chargers that take every profile at once."""

    def __init__(self, chargers: int, circuits: int) -> None:
        self.site = SiteLayout()
        per = chargers // circuits
        self.site.set_node(Node("main", "Main", None, Decimal(chargers * 7 - 1), None, "bench"))
        for c in range(circuits):
            self.site.set_node(Node(f"sub-{c}", f"Sub {c}", "main", Decimal(per * 10), None, "bench"))
        for n in range(chargers):
            self.site._assigned(station_id=f"CB-{n}", placement=Placement(f"sub-{n % circuits}").to_json())
        self.stations = {s: Charger() for s in self.site.placements}
        self.listeners: list[Any] = []
        self.sends = 0

    def layout(self) -> SiteLayout:
        return self.site

    def get(self, station_id: str) -> Charger:
        return self.stations[station_id]

    def is_reachable(self, station_id: str) -> bool:
        return True

    async def send(self, station_id: str, profile: LimitProfile) -> str:
        self.sends += 1
        return "Accepted"


async def run(fn: Any, *args: Any) -> Any:
    return fn(*args)


async def one_arrival(chargers: int, circuits: int) -> tuple[float, int]:
    fleet = Fleet(chargers, circuits)
    load = LoadManager(fleet, fleet, fleet, run, fleet.send, lambda: datetime(2026, 12, 2, 18, tzinfo=UTC))  # type: ignore[arg-type]
    for n in range(chargers - 1):
        fleet.stations[f"CB-{n}"].running = {1: "TX"}
    await load.rebalance("main")
    fleet.stations[f"CB-{chargers - 1}"].running = {1: "TX"}
    fleet.sends = 0
    started = time.perf_counter()
    await load.rebalance("main")
    return time.perf_counter() - started, fleet.sends


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--circuits", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    timings = [asyncio.run(one_arrival(args.chargers, args.circuits)) for _ in range(args.rounds)]
    seconds = [t for t, _ in timings]
    print(f"cores: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    print(
        f"re-balance of a {args.chargers}-charger site ({args.circuits} circuits) when one car arrives: "
        f"median {statistics.median(seconds) * 1000:.0f} ms, best {min(seconds) * 1000:.0f} ms, "
        f"{timings[0][1]} profiles sent"
    )


if __name__ == "__main__":
    main()
