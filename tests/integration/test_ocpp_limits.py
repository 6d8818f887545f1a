"""Hostile OCPP input over a real WebSocket: bounded frames, nesting and samples, no cached failures."""

from __future__ import annotations

import asyncio
import hashlib
import json
import socket
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.support import LiveServer, exchange, raw_socket


def status_frame(uid: str) -> str:
    payload = {"timestamp": "2026-11-25T10:00:00Z", "connectorStatus": "Occupied", "evseId": 1, "connectorId": 1}
    return json.dumps([2, uid, "StatusNotification", payload])


def tx_frame(uid: str, seq_no: Any, tx: str = "T-1", **extra: Any) -> str:
    payload = {
        "eventType": "Updated",
        "timestamp": "2026-11-25T10:00:00Z",
        "triggerReason": "MeterValuePeriodic",
        "seqNo": seq_no,
        "transactionInfo": {"transactionId": tx},
        **extra,
    }
    return json.dumps([2, uid, "TransactionEvent", payload])


def nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_an_internal_error_is_not_replayed_for_a_resent_message_id(server: LiveServer) -> None:
    server.whitelist("CB-L1")
    chargers = server.platform.chargers
    original, failures = chargers.record_status, [1]

    def flaky(*args: Any, **kwargs: Any) -> Any:
        if failures:
            failures.pop()
            raise RuntimeError("store locked")
        return original(*args, **kwargs)

    chargers.record_status = flaky  # type: ignore[method-assign]

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with raw_socket(server, "CB-L1") as ws:
            return await exchange(ws, status_frame("s-1")), await exchange(ws, status_frame("s-1"))

    first, second = asyncio.run(scenario())
    assert first[0] == 4 and first[2] == "InternalError"
    assert second == [3, "s-1", {}]


def test_integral_float_seq_nos_are_accepted_and_others_refused(server: LiveServer) -> None:
    server.whitelist("CB-L2")

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L2") as ws:
            return [
                await exchange(ws, tx_frame("f-1", 1.0)),
                await exchange(ws, tx_frame("f-2", 1e300)),
                await exchange(ws, tx_frame("f-3", 2.0)),
            ]

    one, huge, two = asyncio.run(scenario())
    assert one == [3, "f-1", {}]
    assert huge[0] == 4 and huge[2] == "PropertyConstraintViolation"
    assert two == [3, "f-3", {}]


def test_deep_nesting_is_refused_without_recursion(server: LiveServer) -> None:
    server.whitelist("CB-L3")
    deep = json.dumps([2, "d-1", "DataTransfer", {"vendorId": "acme", "data": nested(900)}])
    custom = json.dumps([2, "d-2", "Heartbeat", {"customData": {"vendorId": "x", "v": nested(900)}}])

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L3") as ws:
            replies = [await exchange(ws, deep), await exchange(ws, custom)]
            return [*replies, await exchange(ws, '[2, "ok", "Heartbeat", {}]')]

    deep_reply, custom_reply, alive = asyncio.run(scenario())
    assert deep_reply[:3] == [4, "d-1", "FormatViolation"]
    assert custom_reply[:3] == [4, "d-2", "FormatViolation"]
    assert alive[:2] == [3, "ok"]


def test_a_moderately_nested_data_transfer_is_accepted(server: LiveServer) -> None:
    server.whitelist("CB-L4")
    frame = json.dumps([2, "n-1", "DataTransfer", {"vendorId": "acme", "data": nested(30)}])

    async def scenario() -> list[Any]:
        async with raw_socket(server, "CB-L4") as ws:
            return await exchange(ws, frame)

    assert asyncio.run(scenario()) == [3, "n-1", {"status": "UnknownVendorId"}]


def test_an_upgrade_url_over_the_limit_gets_a_4xx_and_is_closed(server: LiveServer) -> None:
    request = (
        f"GET /ocpp/{'A' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: ocpp2.0.1\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:  # noqa: SIM117
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    status = int(received.split(b" ", 2)[1])
    assert 400 <= status < 500


def test_a_frame_over_the_limit_is_refused_before_parsing(server: LiveServer) -> None:
    server.whitelist("CB-L5")
    frame = json.dumps([2, "big", "DataTransfer", {"vendorId": "acme", "data": "x" * (2 * 1024 * 1024)}])

    async def scenario() -> int | None:
        async with raw_socket(server, "CB-L5") as ws:
            before = server.head()
            await ws.send(frame)
            try:
                await asyncio.wait_for(ws.recv(), 5)
            except ConnectionClosed as closed:
                stored = server.platform.log.recorder.select_notifications(start=before + 1, limit=10)
                # the frame stored nothing; the session's end (Disconnected) may already be recorded
                assert [n.topic.rsplit(".", 1)[-1] for n in stored] in ([], ["Disconnected"])
                return closed.rcvd.code if closed.rcvd else None
            return None

    assert asyncio.run(scenario()) == 1009


def test_too_many_samples_in_one_message_are_refused(server: LiveServer) -> None:
    server.whitelist("CB-L6")
    many = [{"timestamp": "2026-11-25T10:00:00Z", "sampledValue": [{"value": float(i)} for i in range(1001)]}]
    frames = [
        tx_frame("m-1", 0, meterValue=many),
        json.dumps([2, "m-2", "MeterValues", {"evseId": 1, "meterValue": many}]),
    ]

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L6") as ws:
            return [await exchange(ws, frame) for frame in frames]

    for reply in asyncio.run(scenario()):
        assert reply[0] == 4 and reply[2] == "OccurrenceConstraintViolation"


def test_a_large_data_transfer_or_notify_event_is_answered_and_stored_by_size_and_hash(server: LiveServer) -> None:
    server.whitelist("CB-L7")
    data = "x" * (100 * 1024)
    transfer = json.dumps([2, "p-1", "DataTransfer", {"vendorId": "acme", "data": data}])
    item = {"eventId": 1, "timestamp": "2026-11-25T10:00:00Z", "trigger": "Delta", "actualValue": "y" * 2500}
    item |= {"eventNotificationType": "HardWiredNotification", "component": {"name": "C"}, "variable": {"name": "V"}}
    notify = {"generatedAt": "2026-11-25T10:00:00Z", "seqNo": 0, "eventData": [item] * 40}
    frames = [transfer, json.dumps([2, "p-2", "NotifyEvent", notify])]

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L7") as ws:
            return [await exchange(ws, frame) for frame in frames]

    assert asyncio.run(scenario()) == [[3, "p-1", {"status": "UnknownVendorId"}], [3, "p-2", {}]]
    history = server.platform.chargers.history("CB-L7")
    transferred: Any = next(e for e in history if type(e).__qualname__ == "Charger.DataTransferred")
    encoded = json.dumps(data, separators=(",", ":")).encode()
    assert transferred.data is None and transferred.withheld == {
        "size": len(encoded),
        "sha256": hashlib.sha256(encoded).hexdigest(),
    }
    reported: Any = next(e for e in history if type(e).__qualname__ == "Charger.PeriodicEventsReported")
    assert reported.event_data == [] and reported.withheld["size"] > 64 * 1024


def test_a_huge_seq_no_gives_one_gap_range_in_the_api(server: LiveServer) -> None:
    server.whitelist("CB-L8")
    frames = [tx_frame("g-1", 0, tx="T-8", eventType="Started"), tx_frame("g-2", 2147483647, tx="T-8")]

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L8") as ws:
            return [await exchange(ws, frame) for frame in frames]

    assert [reply[0] for reply in asyncio.run(scenario())] == [3, 3]
    server.settle()
    with server.http() as client:
        body = client.get("/api/v1/transactions", params={"charger": "CB-L8"}).json()
    assert [tx["missing_seq_nos"] for tx in body["items"]] == [[[1, 2147483646]]]


def replies_and_writes(server: LiveServer, station_id: str, frames: list[str]) -> tuple[list[list[Any]], int]:
    """The answers to ``frames``, sent one after another, and how many events they stored."""

    async def scenario() -> tuple[list[list[Any]], int]:
        async with raw_socket(server, station_id) as ws:
            await asyncio.sleep(0.05)  # the connection's own event is stored first
            before = server.head()
            replies = [await exchange(ws, frame) for frame in frames]
            return replies, server.head() - before

    return asyncio.run(scenario())


def test_nan_and_infinity_are_not_json(server: LiveServer) -> None:
    server.whitelist("CB-L9")
    sample = '{"timestamp": "2026-11-25T10:00:00Z", "sampledValue": [{"value": %s}]}'
    frames = [
        f'[2, "c-{n}", "MeterValues", {{"evseId": 1, "meterValue": [{sample % n}]}}]' for n in ("NaN", "-Infinity")
    ]

    replies, written = replies_and_writes(server, "CB-L9", frames)
    assert [reply[:3] for reply in replies] == [[4, "-1", "RpcFrameworkError"]] * 2
    assert written == 0


def test_meter_values_of_the_wrong_shape_are_judged_by_the_schema(server: LiveServer) -> None:
    server.whitelist("CB-L10")
    frames = [
        json.dumps([2, "w-1", "MeterValues", {"evseId": 1, "meterValue": 5}]),
        json.dumps([2, "w-2", "MeterValues", {"evseId": 1, "meterValue": [{"sampledValue": 7}]}]),
    ]

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, "CB-L10") as ws:
            return [await exchange(ws, frame) for frame in frames]

    for reply in asyncio.run(scenario()):
        assert reply[0] == 4 and reply[2] in ("TypeConstraintViolation", "OccurrenceConstraintViolation")


def test_a_lone_surrogate_is_not_json_text_and_nothing_is_stored(server: LiveServer) -> None:
    """Before: "\\ud800" in a BootNotification was decoded, failed the store's UTF-8 encoding: InternalError."""
    server.whitelist("CB-L11")
    boot = '[2, "%s", "BootNotification", {"chargingStation": {"model": "%s", "vendorName": "V"}, "reason": "PowerUp"}]'

    lone = [boot % ("u-1", "\\ud800"), boot % ("u-2", "a\\uDFFF")]
    replies, written = replies_and_writes(server, "CB-L11", lone)
    assert [reply[:3] for reply in replies] == [[4, "-1", "RpcFrameworkError"]] * 2
    assert written == 0
    (pair,), _ = replies_and_writes(server, "CB-L11", [boot % ("u-3", "\\ud83d\\ude00")])
    assert pair[:2] == [3, "u-3"]  # a valid surrogate pair is one character
    assert server.platform.chargers.get("CB-L11").model == "😀"


def test_values_the_schema_allows_but_the_domain_refuses_are_property_violations(server: LiveServer) -> None:
    """Before: an empty transactionId or an id token of spaces passed the schema (no minLength, no pattern),
    the domain refused it in the store thread and the charger got InternalError, every time it resent."""
    server.whitelist("CB-L12")
    blank_token = {"idToken": {"idToken": "   ", "type": "ISO14443"}}
    frames = [
        tx_frame("v-1", 0, tx="", eventType="Started"),
        tx_frame("v-2", 0, tx="T-12", eventType="Started", **blank_token),
        json.dumps([2, "v-3", "Authorize", blank_token]),
        json.dumps([2, "v-4", "Authorize", {"idToken": {"idToken": "\U000e0000\U000e0001", "type": "Local"}}]),
    ]

    replies, written = replies_and_writes(server, "CB-L12", frames)
    assert [reply[:3] for reply in replies] == [[4, f"v-{n}", "PropertyConstraintViolation"] for n in range(1, 5)]
    assert written == 0


def meter(*values: float, unit: str = "Wh", multiplier: int = 0) -> list[dict[str, Any]]:
    sampled = [{"value": v, "unitOfMeasure": {"unit": unit, "multiplier": multiplier}} for v in values]
    return [{"timestamp": "2026-11-25T10:00:00Z", "sampledValue": sampled}]


def test_a_reading_beyond_what_a_meter_reads_is_refused_and_nothing_of_the_event_is_stored(server: LiveServer) -> None:
    server.whitelist("CB-L9")
    log = server.platform.log
    beyond = [meter(2e15), meter(-1.5e15), meter(1.1e12, unit="kWh"), meter(1.0, multiplier=16), meter(1e308, 1e308)]

    async def scenario() -> tuple[list[list[Any]], list[Any], int, int]:
        async with raw_socket(server, "CB-L9") as ws:
            before = log.recorder.max_notification_id() or 0
            refused = [await exchange(ws, tx_frame(f"m-{n}", n, meterValue=m)) for n, m in enumerate(beyond)]
            after = log.recorder.max_notification_id() or 0
            read = await exchange(ws, tx_frame("m-ok", 9, meterValue=meter(1e15, 0.0)))  # at the bound: read
            return refused, read, before, after

    refused, read, before, after = asyncio.run(scenario())
    for reply in refused:
        assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
        assert "meterValue" in reply[3]
    assert after == before
    assert read == [3, "m-ok", {}]
