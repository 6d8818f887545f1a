"""Reset from the dashboard (the CSMS call added through the port), and J03 meter values after a reconnect."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action
from websockets.asyncio.client import connect

from adapters.auth import Role
from cloudbay_domain.charger import Charger
from cloudbay_domain.transaction import Transaction
from tests.ownership_support import pair
from tests.support import LiveServer, Station, station


class ResettableStation(Station):
    reset_answer = "Accepted"

    @on(Action.reset)
    async def on_reset(self, **kwargs: Any) -> Any:
        await self._answer("Reset", kwargs)
        return call_result.Reset(status=self.reset_answer)


def resettable(
    server: LiveServer, station_id: str, answer: str = "Accepted"
) -> contextlib.AbstractAsyncContextManager[ResettableStation]:
    return station(server, station_id, ResettableStation, reset_answer=answer)


async def post(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return await asyncio.get_running_loop().run_in_executor(None, lambda: http.post(path, json=body))


def resets(server: LiveServer, station_id: str) -> list[tuple[str, int | None, str, str]]:
    return [
        (e.kind, e.evse_id, e.requested_by, e.answer)
        for e in server.platform.chargers.history(station_id)
        if isinstance(e, Charger.ResetRequested)
    ]


def test_an_operator_resets_a_charger_and_the_answer_is_recorded(server: LiveServer) -> None:
    server.whitelist("CB-R1")

    async def scenario() -> tuple[Station, httpx.Response, httpx.Response]:
        async with resettable(server, "CB-R1") as cp:
            await cp.boot()
            with server.http() as http:
                now = await post(http, "/api/v1/chargers/CB-R1/reset", {"type": "Immediate"})
                one_evse = await post(http, "/api/v1/chargers/CB-R1/reset", {"type": "OnIdle", "evse_id": 2})
            return cp, now, one_evse

    cp, now, one_evse = asyncio.run(scenario())
    assert now.status_code == 202, now.text
    assert now.json()["status"] == "Accepted" and now.json()["type"] == "Immediate"
    assert one_evse.status_code == 202 and one_evse.json()["evse_id"] == 2
    assert ("Reset", {"type": "Immediate"}) in cp.received
    assert ("Reset", {"type": "OnIdle", "evse_id": 2}) in cp.received
    assert resets(server, "CB-R1") == [
        ("Immediate", None, "operator@example.com", "Accepted"),
        ("OnIdle", 2, "operator@example.com", "Accepted"),
    ]


def test_reset_refusals_are_problems_and_write_only_the_answer(server: LiveServer) -> None:
    server.whitelist("CB-R2")
    with server.http() as http:
        offline = http.post("/api/v1/chargers/CB-R2/reset", json={})
        assert offline.status_code == 409 and offline.json()["reason"] == "Offline"
        assert http.post("/api/v1/chargers/NOPE/reset", json={}).status_code == 404
        for bad in ({"type": "Hard"}, {"evse_id": 0}, {"extra": 1}):
            response = http.post("/api/v1/chargers/CB-R2/reset", json=bad)
            assert response.status_code == 422, bad
            assert response.headers["content-type"].startswith("application/problem+json")
    with server.http(Role.USER) as user:
        before = server.head()
        assert user.post("/api/v1/chargers/CB-R2/reset", json={}).status_code == 404  # a stranger
        assert server.head() == before
        pair(server, "CB-R2", "user@example.com")
        before = server.head()
        assert user.post("/api/v1/chargers/CB-R2/reset", json={}).status_code == 403  # its owner: operators reset
        assert server.head() == before
    assert resets(server, "CB-R2") == []

    async def scenario() -> int:
        async with resettable(server, "CB-R2", answer="Rejected") as cp:
            await cp.boot()
            with server.http() as http:
                refused = await post(http, "/api/v1/chargers/CB-R2/reset", {})
            assert refused.status_code == 409 and refused.json()["reason"] == "Rejected"
        async with resettable(server, "CB-R2", answer="Scheduled") as cp:
            await cp.boot()
            with server.http() as http:
                scheduled = await post(http, "/api/v1/chargers/CB-R2/reset", {})
            return scheduled.status_code

    assert asyncio.run(scenario()) == 202
    assert [r[3] for r in resets(server, "CB-R2")] == ["Rejected", "Scheduled"]


def test_a_charger_without_reset_gives_bad_gateway(server: LiveServer) -> None:
    server.whitelist("CB-R3")

    async def scenario() -> httpx.Response:
        async with connect(server.ws_url("CB-R3"), subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            cp = Station("CB-R3", ws, response_timeout=5)  # answers Reset with a CALLERROR: no handler
            task = asyncio.create_task(cp.start())
            try:
                await cp.boot()
                with server.http() as http:
                    return await post(http, "/api/v1/chargers/CB-R3/reset", {"type": "Immediate"})
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    response = asyncio.run(scenario())
    assert response.status_code == 502 and response.json()["reason"] in ("NotImplemented", "NotSupported")
    assert [r[3] for r in resets(server, "CB-R3")] == [response.json()["reason"]]


def test_meter_values_after_a_reconnect_still_go_to_the_running_transaction(server: LiveServer) -> None:
    server.whitelist("CB-R4")

    def meter_values(wh: float) -> Any:
        sampled = [{"value": wh, "measurand": "Energy.Active.Import.Register"}]
        return call.MeterValues(
            evse_id=1, meter_value=[{"timestamp": "2026-11-25T10:30:00Z", "sampled_value": sampled}]
        )

    async def scenario() -> None:
        async with resettable(server, "CB-R4") as cp:
            await cp.boot()
            await cp.transaction_event("Started", "tx-j3", 0, wh=100)
        async with resettable(server, "CB-R4") as cp:  # a new session: nothing of the old one is in memory
            await cp.boot()
            await cp.call(meter_values(400), suppress=False)
            await cp.transaction_event("Ended", "tx-j3", 1, wh=500, at="2026-11-25T11:00:00Z")
            await cp.call(meter_values(500), suppress=False)

    asyncio.run(scenario())
    tx_events = [type(e).__qualname__ for e in server.platform.log.events.get(tx_id("CB-R4", "tx-j3"))]
    assert tx_events.count("Transaction.MeterValuesRecorded") == 1
    assert server.platform.chargers.get("CB-R4").meter_value_reports == 1  # the one after the Ended
    assert server.platform.chargers.get("CB-R4").running == {}


def tx_id(station_id: str, transaction_id: str) -> Any:
    return Transaction.create_id(station_id, transaction_id)
