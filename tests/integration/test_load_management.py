"""Live load management with real ``ocpp`` 2.0.1 chargers over real WebSockets, on SQLite and PostgreSQL: three
chargers on one 32 A site record every SetChargingProfile they receive, and the limits summed over the site at
each receipt never exceed the site's limit as cars arrive and leave."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ocpp.routing import on
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from tests.support import LiveServer, Station, station

SITE_A = 32
Receipts = list[tuple[str, float]]


class LimitedStation(Station):
    """A charger that applies each ChargingStationMaxProfile as it gets it and notes the site's sum then."""

    receipts: Receipts  # shared by the chargers of the site: (station, limit) in the order received
    limits: dict[str, float]
    sums: list[float]

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, evse_id: int, charging_profile: dict[str, Any], **_: Any) -> Any:
        await self._answer("SetChargingProfile", {"evse_id": evse_id, "charging_profile": charging_profile})
        assert evse_id == 0 and charging_profile["charging_profile_purpose"] == "ChargingStationMaxProfile"
        limit = float(charging_profile["charging_schedule"][0]["charging_schedule_period"][0]["limit"])
        self.limits[self.id] = limit
        self.receipts.append((self.id, limit))
        self.sums.append(sum(self.limits.values()))
        return call_result.SetChargingProfile(status="Accepted")

    @on(Action.clear_charging_profile)
    async def on_clear_charging_profile(self, **kwargs: Any) -> Any:
        await self._answer("ClearChargingProfile", kwargs)
        self.limits.pop(self.id, None)
        return call_result.ClearChargingProfile(status="Accepted")


async def until(predicate: Callable[[], bool], timeout: float = 10, msg: object = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"not reached in time {msg}"
        await asyncio.sleep(0.02)


def test_a_site_never_exceeds_its_limit_as_cars_come_and_go(server: LiveServer) -> None:
    stations = ["CB-L1", "CB-L2", "CB-L3"]
    for station_id in stations:
        server.whitelist(station_id)
    with server.http() as http:
        site = http.post("/api/v1/sites", json={"name": "Depot", "max_current_a": SITE_A}).json()["site_id"]
        for station_id in stations:
            assert http.put(f"/api/v1/sites/{site}/chargers/{station_id}", json={}).status_code == 200
    receipts: Receipts = []
    limits: dict[str, float] = {}
    sums: list[float] = []
    shared: dict[str, Any] = {"receipts": receipts, "limits": limits, "sums": sums}

    async def go() -> None:
        async with (
            station(server, "CB-L1", LimitedStation, **shared) as one,
            station(server, "CB-L2", LimitedStation, **shared) as two,
            station(server, "CB-L3", LimitedStation, **shared) as three,
        ):
            for cp in (one, two, three):
                await cp.boot()  # its limit at boot: no car, 0 A
            await until(lambda: len(limits) == 3)
            assert limits == dict.fromkeys(stations, 0.0)
            await one.transaction_event("Started", "TX-1", 0, trigger="CablePluggedIn")
            await until(lambda: limits.get("CB-L1") == 16.0)
            await two.transaction_event("Started", "TX-2", 0, trigger="CablePluggedIn")
            await until(lambda: limits.get("CB-L2") == 16.0)
            await three.transaction_event("Started", "TX-3", 0, trigger="CablePluggedIn")
            await until(lambda: limits["CB-L3"] > 0)
            assert limits == dict.fromkeys(stations, 10.6)  # 32 A shared equally, floored to 0.1 A
            await one.transaction_event(
                "Ended", "TX-1", 1, trigger="EVDeparted", info={"stopped_reason": "EVDisconnected"}
            )
            await until(lambda: limits.get("CB-L2") == 16.0 and limits["CB-L3"] == 16.0)
            assert limits["CB-L1"] == 0.0
            with server.http() as http:  # the site's limit lowered: both cars go down at once
                assert http.patch(f"/api/v1/sites/{site}", json={"max_current_a": 20}).status_code == 200
            await until(lambda: limits.get("CB-L2") == 10.0 and limits["CB-L3"] == 10.0)
            with server.http() as http:  # taken off the site: its limit is cleared, it is free again
                assert http.delete(f"/api/v1/sites/{site}/chargers/CB-L1").status_code == 204
            await until(lambda: "CB-L1" not in limits)
            assert ("ClearChargingProfile", {"charging_profile_id": 90000}) in one.received

    asyncio.run(go())
    assert max(sums) <= SITE_A and sums[-1] <= 20 and len(receipts) >= 11
    third_arrives = receipts.index(("CB-L3", 10.6))  # the two others went down first
    assert {s for s, _ in receipts[third_arrives - 2 : third_arrives]} == {"CB-L1", "CB-L2"}
    departs = receipts.index(("CB-L1", 0.0), 3)  # the leaving car's limit went down before the others rose
    assert receipts.index(("CB-L2", 16.0), departs) > departs and receipts.index(("CB-L3", 16.0), departs) > departs
    with server.http() as http:
        tree = http.get(f"/api/v1/sites/{site}").json()
    assert {c["station_id"]: c["limit_a"] for c in tree["chargers"]} == {
        "CB-L2": "10.0",
        "CB-L3": "10.0",
    }


def test_an_offline_charger_keeps_its_share_until_it_is_back(server: LiveServer) -> None:
    for station_id in ("CB-H1", "CB-H2"):
        server.whitelist(station_id)
    with server.http() as http:
        site = http.post("/api/v1/sites", json={"name": "Yard", "max_current_a": 40}).json()["site_id"]
        for station_id in ("CB-H1", "CB-H2"):
            assign = http.put(f"/api/v1/sites/{site}/chargers/{station_id}", json={"max_current_a": 32})
            assert assign.status_code == 200
    receipts: Receipts = []
    limits: dict[str, float] = {}
    shared: dict[str, Any] = {"receipts": receipts, "limits": limits, "sums": []}

    async def go() -> None:
        async with station(server, "CB-H1", LimitedStation, **shared) as one:
            await one.boot()
            async with station(server, "CB-H2", LimitedStation, **shared) as two:
                await two.boot()
                await one.transaction_event("Started", "TX-1", 0, trigger="CablePluggedIn")
                await until(lambda: limits.get("CB-H1") == 32.0)
                await two.transaction_event("Started", "TX-2", 0, trigger="CablePluggedIn")
                await until(lambda: limits.get("CB-H2") == 20.0)
            await until(lambda: not server.platform.link.is_reachable("CB-H2"))  # gone, its car still on
            await one.transaction_event("Ended", "TX-1", 1, trigger="EVDeparted")
            await until(lambda: limits.get("CB-H1") == 0.0)
            await one.transaction_event("Started", "TX-3", 0, trigger="CablePluggedIn")
            await until(lambda: receipts.count(("CB-H1", 20.0)) == 2, msg=receipts)  # not 40: CB-H2 holds 20
            async with station(server, "CB-H2", LimitedStation, **shared) as again:
                await again.boot()  # back: its limit again, its car still charging
                await until(lambda: receipts[-1][0] == "CB-H2", msg=receipts)
                await again.transaction_event("Ended", "TX-2", 1, trigger="EVDeparted")
                await until(lambda: limits.get("CB-H1") == 32.0)

    asyncio.run(go())
    after_leaving = receipts.index(("CB-H1", 0.0), 2)  # TX-1 ended: CB-H1 down to 0
    assert receipts[after_leaving + 1] == ("CB-H1", 20.0)  # the new car: 40 A less the 20 A CB-H2 still holds
    assert limits == {"CB-H1": 32.0, "CB-H2": 0.0}


def test_a_charger_assigned_while_connected_gets_its_limit_at_once(server: LiveServer) -> None:
    server.whitelist("CB-N1")
    limits: dict[str, float] = {}
    shared: dict[str, Any] = {"receipts": [], "limits": limits, "sums": []}

    async def go() -> None:
        async with station(server, "CB-N1", LimitedStation, **shared):  # connected, no boot since the server started
            await until(lambda: server.platform.link.is_reachable("CB-N1"))
            with server.http() as http:
                site = http.post("/api/v1/sites", json={"name": "Shed", "max_current_a": 10}).json()["site_id"]
                assert http.put(f"/api/v1/sites/{site}/chargers/CB-N1", json={}).status_code == 200
            await until(lambda: limits.get("CB-N1") == 0.0)  # its ChargingStationMaxProfile, sent on assignment

    asyncio.run(go())
