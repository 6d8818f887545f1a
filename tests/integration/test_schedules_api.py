"""Charging schedules over real HTTP with a real ``ocpp`` 2.0.1 charger, on SQLite and PostgreSQL: a quote
accepted is sent as SetChargingProfile (TxDefaultProfile ahead of plug-in, TxProfile for a running
transaction), every profile the charger receives is checked, a schedule is cleared, the composite schedule is
read, the platform stops a transaction whose energy is delivered or whose plan ended; and the bad cases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from adapters.auth import Role
from tests.ownership_support import pair
from tests.schedule_support import ReportingStation, SmartStation, smart
from tests.support import LiveServer, station

PROBLEM = "application/problem+json"
DRIVER = "driver@example.com"
FLAT: dict[str, Any] = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}


def prepare(server: LiveServer, station_id: str) -> None:
    server.whitelist(station_id)
    pair(server, station_id, DRIVER)
    with server.http() as operator:
        assert operator.put(f"/api/v1/chargers/{station_id}/tariff", json=FLAT).status_code == 200


def driver(server: LiveServer) -> httpx.Client:
    return server.http(Role.USER, DRIVER)


def quote(http: httpx.Client, station_id: str, energy_kwh: str = "5", hours: float = 3) -> dict[str, Any]:
    by = (datetime.now(UTC) + timedelta(hours=hours)).isoformat()
    answer = http.post(f"/api/v1/chargers/{station_id}/schedule-quotes", json={"energy_kwh": energy_kwh, "by": by})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def accept(http: httpx.Client, station_id: str, quote_id: str) -> httpx.Response:
    return http.post(f"/api/v1/chargers/{station_id}/schedules", json={"quote_id": quote_id})


def with_station(server: LiveServer, station_id: str, steps: Callable[[SmartStation], Any], **attributes: Any) -> Any:
    """Connect a SmartStation, boot it, and run ``steps`` (a coroutine function of the station)."""

    async def go() -> Any:
        async with station(server, station_id, SmartStation, **attributes) as cp:
            await cp.boot()
            return await steps(cp)

    return asyncio.run(go())


def check_profile(payload: dict[str, Any], offered: dict[str, Any], purpose: str, tx: str | None) -> None:
    """A received SetChargingProfile against the quote it came from."""
    profile = payload["charging_profile"]
    assert payload["evse_id"] == 1
    assert profile["charging_profile_purpose"] == purpose and profile["charging_profile_kind"] == "Absolute"
    assert profile["stack_level"] == 1 and profile.get("transaction_id") == tx
    [schedule] = profile["charging_schedule"]
    assert schedule["charging_rate_unit"] == "A" and schedule["id"] == profile["id"]
    periods = schedule["charging_schedule_period"]
    assert 1 <= len(periods) <= 24 and periods[0]["start_period"] == 0
    assert all(0 <= Decimal(str(p["limit"])) <= 16 for p in periods)
    starts = [p["start_period"] for p in periods]
    assert starts == sorted(set(starts))
    to = datetime.fromisoformat(profile["valid_to"]) - datetime.fromisoformat(offered["by"])
    assert abs(to) < timedelta(milliseconds=1)  # sent at millisecond precision
    first = datetime.fromisoformat(offered["intervals"][0]["start"])
    begins = datetime.fromisoformat(schedule["start_schedule"])
    offset = int((first - begins).total_seconds())  # the profile's period in force when the plan charges first
    in_force = [p for p in periods if p["start_period"] <= offset][-1]
    assert Decimal(str(in_force["limit"])) == Decimal(offered["intervals"][0]["current_a"])


def test_a_quote_becomes_a_default_profile_is_listed_and_cleared(server: LiveServer) -> None:
    prepare(server, "SCH-1")

    async def steps(cp: SmartStation) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
        def rest() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], dict[str, Any]]:
            with driver(server) as http:
                offered = quote(http, "SCH-1")
                created = accept(http, "SCH-1", offered["quote_id"])
                assert created.status_code == 201, created.text
                listed = http.get("/api/v1/chargers/SCH-1/schedules").json()
                cleared = http.delete(created.headers["location"])
                assert cleared.status_code == 200, cleared.text
                assert http.delete(created.headers["location"]).status_code == 409  # cleared already
                return offered, created.json(), listed, cleared.json()

        return await asyncio.to_thread(rest)

    offered, created, listed, cleared = with_station(server, "SCH-1", steps)
    assert created["state"] == "accepted" and created["purpose"] == "TxDefaultProfile"
    assert created["energy_kwh"] == offered["energy_kwh"] and created["cost"] == offered["total_cost"]
    assert [s["id"] for s in listed["schedules"]] == [created["id"]]
    assert cleared["state"] == "cleared" and cleared["reason"] == "Accepted"
    with driver(server) as http:
        again = accept(http, "SCH-1", offered["quote_id"])
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM  # a quote is accepted once


def test_a_running_transaction_gets_a_tx_profile_and_is_stopped_when_its_energy_is_delivered(
    server: LiveServer,
) -> None:
    prepare(server, "SCH-2")

    async def steps(cp: SmartStation) -> tuple[dict[str, Any], list[Any], list[Any]]:
        await cp.transaction_event("Started", "T-9", 0, trigger="CablePluggedIn", wh=1000)
        with driver(server) as http:
            offered = await asyncio.to_thread(quote, http, "SCH-2", "2")
            created = await asyncio.to_thread(accept, http, "SCH-2", offered["quote_id"])
        assert created.status_code == 201, created.text
        before = await server.on_loop(server.platform.schedules.follow())  # 0 Wh so far: nothing to stop
        await cp.transaction_event("Updated", "T-9", 1, wh=3000)
        after = await server.on_loop(server.platform.schedules.follow())
        return offered, before, after

    offered, before, after = with_station(server, "SCH-2", steps)
    assert before == [] and len(after) == 1
    [stopped] = after
    assert stopped.reason == "EnergyDelivered" and stopped.transaction_id == "T-9" and stopped.stop_answer == "Accepted"
    listed = server.platform.schedules.of_charger("SCH-2")
    assert [s.state.value for s in listed] == ["stopped"]
    assert listed[0].purpose == "TxProfile" and listed[0].transaction_id == "T-9"
    assert offered["feasible"]


def test_every_profile_received_matches_its_quote_and_the_plan_end_stops_charging(server: LiveServer) -> None:
    prepare(server, "SCH-3")

    async def steps(cp: SmartStation) -> tuple[dict[str, Any], list[Any], list[Any], dict[str, Any]]:
        await cp.transaction_event("Started", "T-3", 0, trigger="CablePluggedIn", wh=0)
        with driver(server) as http:
            offered = await asyncio.to_thread(quote, http, "SCH-3", "3", 2)
            assert (await asyncio.to_thread(accept, http, "SCH-3", offered["quote_id"])).status_code == 201
        schedules = server.platform.schedules
        real_clock = schedules.clock
        schedules.clock = lambda: real_clock() + timedelta(hours=3)  # past the plan's end
        try:
            ended = await server.on_loop(schedules.follow())
        finally:
            schedules.clock = real_clock
        with server.http() as operator:
            composite = await asyncio.to_thread(operator.get, "/api/v1/chargers/SCH-3/composite-schedule?duration=600")
        return offered, cp.received, ended, composite.json()

    offered, received, ended, composite = with_station(server, "SCH-3", steps)
    [(action, payload), (composite_action, asked)] = smart(received)
    assert action == "SetChargingProfile"
    check_profile(payload, offered, "TxProfile", "T-3")
    assert [r for a, r in received if a == "RequestStopTransaction"] == [{"transaction_id": "T-3"}]
    assert [s.reason for s in ended] == ["PlanEnded"]
    assert composite_action == "GetCompositeSchedule" and asked["duration"] == 600 and asked["evse_id"] == 1
    assert composite["status"] == "Accepted" and composite["periods"][0]["limit"] == "7400.0"
    assert composite["planned"] == []  # stopped: nothing active any more


def test_a_refusal_and_a_callerror_are_409_and_recorded(server: LiveServer) -> None:
    prepare(server, "SCH-4")

    def attempt() -> httpx.Response:
        with driver(server) as http:
            return accept(http, "SCH-4", quote(http, "SCH-4")["quote_id"])

    async def refused(cp: SmartStation) -> httpx.Response:
        return await asyncio.to_thread(attempt)

    rejected = with_station(server, "SCH-4", refused, answer="Rejected")
    failed = with_station(server, "SCH-4", refused, refuse=True)
    assert rejected.status_code == 409 and rejected.json()["reason"] == "Rejected"
    assert failed.status_code == 409 and failed.json()["reason"] == "NotSupported"
    states = [(s.state.value, s.reason) for s in server.platform.schedules.of_charger("SCH-4")]
    assert states == [("failed", "NotSupported"), ("rejected", "Rejected")]


def test_bad_quotes_strangers_and_an_offline_charger_are_refused(server: LiveServer) -> None:
    prepare(server, "SCH-5")
    prepare(server, "SCH-6")
    with driver(server) as http:
        offered = quote(http, "SCH-5")
        offline = accept(http, "SCH-5", offered["quote_id"])
        forged = accept(http, "SCH-5", offered["quote_id"][:-4] + "AAAA")
        elsewhere = accept(http, "SCH-6", offered["quote_id"])
        garbage = accept(http, "SCH-5", "not-a-quote")
        unknown = http.delete("/api/v1/chargers/SCH-5/schedules/00000000-0000-0000-0000-000000000000")
    schedules = server.platform.schedules
    real_clock = schedules.clock
    schedules.clock = lambda: real_clock() + timedelta(minutes=16)
    try:
        with driver(server) as http:
            expired = accept(http, "SCH-5", offered["quote_id"])
    finally:
        schedules.clock = real_clock
    with server.http(Role.USER, "stranger@example.com") as stranger:
        foreign = accept(stranger, "SCH-5", offered["quote_id"])
        listing = stranger.get("/api/v1/chargers/SCH-5/schedules")
    assert offline.status_code == 409 and offline.json()["reason"] == "Offline"
    assert expired.status_code == 410 and expired.json()["reason"] == "QuoteExpired"
    for answer in (forged, elsewhere, garbage):
        assert answer.status_code == 422 and answer.headers["content-type"] == PROBLEM, answer.text
    assert unknown.status_code == 404 and foreign.status_code == 404 and listing.status_code == 404
    assert server.platform.schedules.of_charger("SCH-5") == []  # nothing was recorded


def test_a_default_profile_follows_the_car_plugged_in_later_and_stops_it_when_done(server: LiveServer) -> None:
    prepare(server, "SCH-7")

    async def steps(cp: SmartStation) -> tuple[list[Any], list[Any]]:
        with driver(server) as http:
            offered = await asyncio.to_thread(quote, http, "SCH-7", "1")
            assert (await asyncio.to_thread(accept, http, "SCH-7", offered["quote_id"])).status_code == 201
        idle = await server.on_loop(server.platform.schedules.follow())  # no car yet: nothing to stop
        await cp.transaction_event("Started", "T-7", 0, trigger="CablePluggedIn", wh=500)  # plug-in
        await cp.transaction_event("Updated", "T-7", 1, wh=1500)
        return idle, await server.on_loop(server.platform.schedules.follow())

    idle, ended = with_station(server, "SCH-7", steps)
    assert idle == [] and [(s.purpose, s.reason, s.transaction_id) for s in ended] == [
        ("TxDefaultProfile", "EnergyDelivered", "T-7")
    ]


def test_the_profile_is_in_the_rate_unit_and_within_the_periods_the_charger_reports(server: LiveServer) -> None:
    prepare(server, "SCH-W")

    async def go() -> tuple[list[tuple[str, dict[str, Any]]], dict[str, Any]]:
        async with station(server, "SCH-W", ReportingStation) as cp:  # SmartChargingCtrlr: RateUnit W, 3 periods
            await cp.boot()

            def rest() -> dict[str, Any]:
                with driver(server) as http:
                    created = accept(http, "SCH-W", quote(http, "SCH-W", energy_kwh="20", hours=6)["quote_id"])
                    assert created.status_code == 201, created.text
                    body: dict[str, Any] = created.json()
                    return body

            created = await asyncio.to_thread(rest)
            return cp.received, created

    received, created = asyncio.run(go())
    asked = [p for a, p in received if a == "GetVariables"]
    names = {(v["component"]["name"], v["variable"]["name"]) for p in asked for v in p["get_variable_data"]}
    assert names == {("SmartChargingCtrlr", "RateUnit"), ("SmartChargingCtrlr", "PeriodsPerSchedule")}
    [(_, sent)] = [(a, p) for a, p in smart(received) if a == "SetChargingProfile"]
    [schedule] = sent["charging_profile"]["charging_schedule"]
    assert schedule["charging_rate_unit"] == "W" and created["charging_rate_unit"] == "W"
    periods = schedule["charging_schedule_period"]
    assert 1 <= len(periods) <= 3 and all(0 <= Decimal(str(p["limit"])) <= 11040 for p in periods)
