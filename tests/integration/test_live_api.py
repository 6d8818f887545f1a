"""The live feed over a real WebSocket against a running server, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.auth import Role
from adapters.http.live import SLOW_CONSUMER_CLOSE_CODE
from cloudbay_domain.id_token import TokenKind
from cloudbay_domain.reports import EventType
from tests.integration.test_history_api import report
from tests.ownership_support import pair
from tests.support import LiveServer, wait_until

DRIVER = "driver@example.com"


def live_url(server: LiveServer, query: str) -> str:
    return f"ws://127.0.0.1:{server.port}/api/v1/live?{query}"


async def receive(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    return message


def setup(server: LiveServer) -> None:
    server.whitelist("CB-L1")
    server.whitelist("CB-L2")
    server.platform.id_tokens.register("AA01", "ISO14443", DRIVER, TokenKind.RFID)
    report(server, "CB-L1", "T0", 0, "2026-11-25T09:00:00Z", 0, token="AA01")
    server.settle()


def test_snapshot_then_every_event_of_the_charger_as_it_lands(server: LiveServer) -> None:
    setup(server)
    token = server.token()

    async def scenario() -> list[dict[str, Any]]:
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(live_url(server, "charger=CB-L1"), additional_headers=headers) as ws:
            snapshot = await receive(ws)
            received = [snapshot]
            await asyncio.to_thread(report, server, "CB-L2", "X1", 0, "2026-11-25T10:00:00Z", 0)  # not watched
            await asyncio.to_thread(report, server, "CB-L1", "T0", 1, "2026-11-25T10:00:00Z", 1500, power_w=7400)
            received.append(await receive(ws))
            await asyncio.to_thread(
                report, server, "CB-L1", "T0", 2, "2026-11-25T10:30:00Z", 2500, event_type=EventType.ENDED
            )
            received.append(await receive(ws))
            await asyncio.to_thread(report, server, "CB-L1", "T1", 0, "2026-11-25T11:00:00Z", 0, token="AA01")
            received += [await receive(ws) for _ in range(3)]
            return received

    snapshot, updated, ended, *started = asyncio.run(scenario())
    assert snapshot["type"] == "snapshot" and snapshot["station_id"] == "CB-L1"
    assert [t["transaction_id"] for t in snapshot["transactions"]] == ["T0"] and snapshot["position"] > 0
    assert updated == {
        "type": "transaction",
        "event": "Reported",
        "station_id": "CB-L1",
        "transaction_id": "T0",
        "status": "active",
        "energy_wh": 1500,
        "power_w": 7400,
        "charging_state": "Charging",
        "user": DRIVER,
        "position": updated["position"],
    }
    assert updated["position"] > snapshot["position"]
    assert ended["event"] == "Reported" and ended["status"] == "ended" and ended["energy_wh"] == 2500
    assert [m["event"] for m in started] == ["Opened", "Reported", "Attributed"]
    assert [m["transaction_id"] for m in started] == ["T1"] * 3 and started[-1]["user"] == DRIVER
    assert [m["position"] for m in started] == sorted(m["position"] for m in started)
    assert server.runtime is not None
    wait_until(lambda: server.runtime is not None and server.runtime.live.watched() == 0)  # unsubscribed on close


def test_a_token_in_the_query_string_is_accepted_for_browsers(server: LiveServer) -> None:
    setup(server)
    pair(server, "CB-L2", DRIVER)
    token = server.token(DRIVER, Role.USER)

    async def scenario() -> dict[str, Any]:
        async with connect(live_url(server, f"charger=CB-L2&access_token={token}")) as ws:
            return await receive(ws)

    snapshot = asyncio.run(scenario())
    assert snapshot["type"] == "snapshot" and snapshot["transactions"] == []


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("charger=CB-L1", {}, 401),
        ("charger=CB-L1&access_token=forged", {}, 401),
        ("charger=CB-L1", {"Authorization": "Basic abc"}, 401),
        ("", None, 400),
        ("charger=NOPE", None, 404),
    ],
)
def test_refused_upgrades_are_http_problems(
    server: LiveServer, query: str, headers: dict[str, str] | None, status: int
) -> None:
    setup(server)
    if headers is None:
        headers = {"Authorization": f"Bearer {server.token()}"}

    async def scenario() -> Any:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(live_url(server, query), additional_headers=headers):
                pass
        return refused.value.response

    response = asyncio.run(scenario())
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert json.loads(response.body)["status"] == status


def test_a_client_that_falls_behind_is_closed_with_a_clear_code(server: LiveServer) -> None:
    setup(server)
    assert server.runtime is not None
    server.runtime.live.queue_size = 2  # a new transaction is 3 events in one batch
    token = server.token()

    async def scenario() -> ConnectionClosed:
        async with connect(live_url(server, f"charger=CB-L1&access_token={token}")) as ws:
            await receive(ws)
            await asyncio.to_thread(report, server, "CB-L1", "T9", 0, "2026-11-25T12:00:00Z", 0, token="AA01")
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            return closed.value

    closed = asyncio.run(scenario())
    assert closed.rcvd is not None and closed.rcvd.code == SLOW_CONSUMER_CLOSE_CODE
    assert "reconnect" in closed.rcvd.reason


def test_a_guest_watching_a_charger_sees_only_their_own_transactions(server: LiveServer) -> None:
    """REST answers a guest 404 for another user's transaction; the live feed must not show it either, on
    subscribe (the snapshot) nor in any message (e-mail, id token and energy of someone else)."""
    setup(server)
    pair(server, "CB-L1", "owner@example.com", guests=[DRIVER, "stranger@example.com"])  # two guests
    server.platform.id_tokens.register("BB02", "ISO14443", "other@example.com", TokenKind.RFID)
    stranger, driver = server.token("stranger@example.com", Role.USER), server.token(DRIVER, Role.USER)

    async def scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        url = live_url(server, "charger=CB-L1")
        async with (
            connect(url, additional_headers={"Authorization": f"Bearer {stranger}"}) as other,
            connect(url, additional_headers={"Authorization": f"Bearer {driver}"}) as own,
        ):
            seen_by_stranger, seen_by_driver = [await receive(other)], [await receive(own)]
            await asyncio.to_thread(report, server, "CB-L1", "T0", 1, "2026-11-25T10:00:00Z", 1500, power_w=7400)
            await asyncio.to_thread(report, server, "CB-L1", "T9", 0, "2026-11-25T10:05:00Z", 0, token="BB02")
            seen_by_driver.append(await receive(own))
            with pytest.raises(TimeoutError):
                seen_by_stranger.append(await receive(other))
            return seen_by_stranger, seen_by_driver

    by_stranger, by_driver = asyncio.run(scenario())
    assert by_stranger == [by_stranger[0]] and by_stranger[0]["transactions"] == []
    assert "AA01" not in json.dumps(by_stranger) and DRIVER not in json.dumps(by_stranger)
    assert [t["transaction_id"] for t in by_driver[0]["transactions"]] == ["T0"]
    assert by_driver[1]["transaction_id"] == "T0" and by_driver[1]["user"] == DRIVER
