"""A real server, a real OCPP 2.0.1 client over a real WebSocket; on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from ocpp.v201 import call
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support import LiveServer, exchange, raw_socket, station, wait_until


def event_types(server: LiveServer, station_id: str) -> list[str]:
    return [type(e).__qualname__ for e in server.platform.chargers.history(station_id)]


def test_boot_status_events_and_data_transfer_are_recorded(server: LiveServer) -> None:
    server.whitelist("CB-100", "alpha")

    async def scenario() -> list[Any]:
        async with station(server, "CB-100") as cp:
            boot = await cp.boot(firmware="2.4.1")
            beat = await cp.call(call.Heartbeat(), suppress=False)
            await cp.status(1, 1, "Available")
            await cp.status(1, 2, "Occupied")
            await cp.call(
                call.NotifyEvent(
                    generated_at="2026-11-25T10:00:00Z",
                    seq_no=0,
                    event_data=[
                        {
                            "eventId": 1,
                            "timestamp": "2026-11-25T10:00:00Z",
                            "trigger": "Periodic",
                            "actualValue": "230.1",
                            "eventNotificationType": "HardWiredMonitor",
                            "component": {"name": "EVSE", "evse": {"id": 1}},
                            "variable": {"name": "Voltage"},
                        }
                    ],
                ),
                suppress=False,
            )
            transfer = await cp.call(call.DataTransfer(vendor_id="com.example", data={"k": 1}), suppress=False)
            return [boot, beat, transfer]

    boot, beat, transfer = asyncio.run(scenario())
    assert boot.status == "Accepted" and boot.interval == server.settings.heartbeat_interval
    assert beat.current_time.endswith("Z")
    assert transfer.status == "UnknownVendorId"
    wait_until(lambda: event_types(server, "CB-100")[-1] == "Charger.Disconnected")
    assert event_types(server, "CB-100") == [
        "Charger.Whitelisted",
        "Charger.Connected",
        "Charger.Booted",
        "Charger.ConnectorStatusChanged",
        "Charger.ConnectorStatusChanged",
        "Charger.PeriodicEventsReported",
        "Charger.DataTransferred",
        "Charger.Disconnected",
    ]  # no event per heartbeat
    server.settle()
    with server.http() as http:
        charger = http.get("/api/v1/chargers/CB-100").json()
    assert charger["presence"] == "offline"
    assert charger["firmware_version"] == "2.4.1" and charger["vendor"] == "CloudBay"
    assert charger["boot_count"] == 1 and charger["periodic_event_reports"] == 1 and charger["data_transfers"] == 1
    assert [(c["evse_id"], c["connector_id"], c["status"]) for c in charger["connectors"]] == [
        (1, 1, "Available"),
        (1, 2, "Occupied"),
    ]


def test_status_before_boot_is_recorded_and_flagged(server: LiveServer) -> None:
    server.whitelist("CB-101")

    async def scenario() -> None:
        async with station(server, "CB-101") as cp:
            await cp.status(1, 1, "Faulted")
            await cp.boot()
            await cp.status(1, 1, "Available")

    asyncio.run(scenario())
    flags = [e.before_boot for e in server.platform.chargers.history("CB-101") if hasattr(e, "before_boot")]
    assert flags == [True, False]


def test_registered_data_transfer_handler_answers(server: LiveServer) -> None:
    server.whitelist("CB-102")
    assert server.runtime is not None
    server.runtime.data_transfer_handlers["com.cloudbay"] = lambda sid, mid, data: ("Accepted", {"echo": data})

    async def scenario() -> Any:
        async with station(server, "CB-102") as cp:
            return await cp.call(
                call.DataTransfer(vendor_id="com.cloudbay", message_id="ping", data="hi"), suppress=False
            )

    result = asyncio.run(scenario())
    assert result.status == "Accepted" and result.data == {"echo": "hi"}
    history: list[Any] = list(server.platform.chargers.history("CB-102"))
    stored = [e for e in history if type(e).__qualname__ == "Charger.DataTransferred"]
    assert stored[0].answered == "Accepted" and stored[0].message_id == "ping"


def test_unknown_station_is_refused_at_the_upgrade(server: LiveServer) -> None:
    before = server.head()

    async def scenario() -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url("NOT-WHITELISTED"), subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
                pass
        return refused.value.response.status_code

    assert asyncio.run(scenario()) == 404
    assert server.head() == before


def test_connection_without_the_ocpp_subprotocol_is_refused(server: LiveServer) -> None:
    server.whitelist("CB-103")
    before = server.head()

    async def scenario(protocols: list[Any] | None) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(server.ws_url("CB-103"), subprotocols=protocols):
                pass
        return refused.value.response.status_code

    assert asyncio.run(scenario(None)) == 400
    assert asyncio.run(scenario(["ocpp1.6"])) == 400
    assert server.head() == before


# (frame, expected error code, expected message id) — the RPC layer answers what OCPP 2.0.1 Part 4 says.
BAD_FRAMES = [
    ("this is not json", "RpcFrameworkError", "-1"),
    ('{"not": "an array"}', "RpcFrameworkError", "-1"),
    ('[2, "m1", "Heartbeat"]', "RpcFrameworkError", "m1"),
    ('[7, "m2", "Heartbeat", {}]', "MessageTypeNotSupported", "m2"),
    ('[2, "m3", "Teleport", {}]', "NotImplemented", "m3"),
    (
        '[2, "m4", "Get15118EVCertificate", {"iso15118SchemaVersion": "x", "action": "Install", "exiRequest": "y"}]',
        "NotSupported",
        "m4",
    ),
    ('[2, "m5", "BootNotification", {"reason": "PowerUp"}]', "OccurrenceConstraintViolation", "m5"),
    (
        '[2, "m6", "BootNotification", {"reason": "Sneezed", "chargingStation": {"model": "M", "vendorName": "V"}}]',
        "PropertyConstraintViolation",
        "m6",
    ),
    (
        '[2, "m7", "StatusNotification", {"timestamp": "2026-11-25T10:00:00Z", "connectorStatus": "Available",'
        ' "evseId": "one", "connectorId": 1}]',
        "TypeConstraintViolation",
        "m7",
    ),
    ('[2, "m8", "Heartbeat", {"surprise": 1}]', "FormatViolation", "m8"),
    (
        '[2, "m9", "StatusNotification", {"timestamp": "yesterday", "connectorStatus": "Available",'
        ' "evseId": 1, "connectorId": 1}]',
        "PropertyConstraintViolation",
        "m9",
    ),
    ('[2, "m10", "Heartbeat", []]', "FormatViolation", "m10"),
]


@pytest.mark.parametrize(("frame", "code", "message_id"), BAD_FRAMES, ids=[c for _, c, _ in BAD_FRAMES])
def test_bad_input_gets_the_right_callerror_and_stores_nothing(
    server: LiveServer, frame: str, code: str, message_id: str
) -> None:
    server.whitelist("CB-104")

    async def scenario() -> tuple[list[Any], int, list[Any]]:
        async with raw_socket(server, "CB-104") as ws:
            await asyncio.sleep(0.05)
            before = server.head()
            reply = await exchange(ws, frame)
            after = server.head()
            still_open = await exchange(ws, '[2, "ok", "Heartbeat", {}]')
            return reply, after - before, still_open

    reply, written, still_open = asyncio.run(scenario())
    assert reply[0] == 4 and reply[1] == message_id and reply[2] == code
    assert isinstance(reply[3], str) and isinstance(reply[4], dict)
    assert written == 0
    assert still_open[0] == 3 and still_open[1] == "ok"


def test_a_repeated_message_id_is_answered_again_and_stored_once(server: LiveServer) -> None:
    server.whitelist("CB-105")
    frame = json.dumps(
        [
            2,
            "dup-1",
            "StatusNotification",
            {"timestamp": "2026-11-25T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1},
        ]
    )

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with raw_socket(server, "CB-105") as ws:
            return await exchange(ws, frame), await exchange(ws, frame)

    first, second = asyncio.run(scenario())
    assert first == second == [3, "dup-1", {}]
    assert event_types(server, "CB-105").count("Charger.ConnectorStatusChanged") == 1


def test_a_newer_connection_replaces_the_older_one(server: LiveServer) -> None:
    server.whitelist("CB-106")

    async def scenario() -> int | None:
        async with raw_socket(server, "CB-106") as older:
            await exchange(older, '[2, "a", "Heartbeat", {}]')
            async with raw_socket(server, "CB-106") as newer:
                with pytest.raises(ConnectionClosed):
                    await asyncio.wait_for(older.recv(), 5)
                reply = await exchange(newer, '[2, "b", "Heartbeat", {}]')
                assert reply[0] == 3
                return older.close_code

    assert asyncio.run(scenario()) == 4000
    wait_until(lambda: event_types(server, "CB-106")[-1] == "Charger.Disconnected")
    history: list[Any] = list(server.platform.chargers.history("CB-106"))
    connected = [e for e in history if type(e).__qualname__ == "Charger.Connected"]
    assert len(connected) == 2 and connected[1].replaced == connected[0].session_id
    # the replaced session's close is not recorded as the charger going offline
    assert event_types(server, "CB-106").count("Charger.Disconnected") == 1


def test_presence_comes_from_the_session_while_connected(server: LiveServer) -> None:
    server.whitelist("CB-107")

    async def scenario() -> dict[str, Any]:
        async with station(server, "CB-107") as cp:
            await cp.boot()
            await cp.call(call.Heartbeat(), suppress=False)
            await asyncio.to_thread(server.settle)
            async with httpx.AsyncClient(
                base_url=server.base_url, headers={"Authorization": f"Bearer {server.token()}"}
            ) as http:
                online = (await http.get("/api/v1/chargers?presence=online")).json()
            return online

    online = asyncio.run(scenario())
    assert [c["station_id"] for c in online["items"]] == ["CB-107"]
    assert online["items"][0]["node"] == "test-node"
