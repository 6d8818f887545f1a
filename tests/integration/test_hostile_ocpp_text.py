"""A control character from a charger (issue 9, item 2): refused at the OCPP edge, and no read model stops."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from tests.support import LiveServer, exchange, raw_socket

BOOT = {"reason": "PowerUp", "chargingStation": {"vendorName": "V", "model": "M"}}
TX = {
    "eventType": "Started",
    "timestamp": "2026-11-25T10:00:00Z",
    "triggerReason": "Authorized",
    "seqNo": 0,
    "transactionInfo": {"transactionId": "T-1"},
    "idToken": {"idToken": "AA11", "type": "ISO14443"},
}


def with_nul(payload: dict[str, Any], *path: str) -> dict[str, Any]:
    out = json.loads(json.dumps(payload))
    where = out
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = "A\u0000B"
    return out


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("BootNotification", with_nul(BOOT, "chargingStation", "model")),
        ("BootNotification", with_nul(BOOT, "chargingStation", "vendorName")),
        ("BootNotification", with_nul(BOOT, "chargingStation", "serialNumber")),
        ("BootNotification", with_nul(BOOT, "chargingStation", "firmwareVersion")),
        ("TransactionEvent", with_nul(TX, "transactionInfo", "transactionId")),
        ("TransactionEvent", with_nul(TX, "idToken", "idToken")),
        ("Authorize", {"idToken": {"idToken": "A\u0000B", "type": "ISO14443"}}),
        ("DataTransfer", {"vendorId": "A\u0000B"}),
    ],
)
def test_a_nul_from_a_charger_is_a_property_constraint_violation(
    shared_server: LiveServer, action: str, payload: dict[str, Any]
) -> None:
    server = shared_server
    server.whitelist("CB-NUL")

    async def scenario() -> tuple[list[Any], list[Any]]:
        async with raw_socket(server, "CB-NUL") as ws:
            reply = await exchange(ws, json.dumps([2, "m-1", action, payload]))
            return reply, await exchange(ws, json.dumps([2, "m-2", "BootNotification", BOOT]))

    reply, boot = asyncio.run(scenario())
    assert reply[0] == 4 and reply[2] == "PropertyConstraintViolation", reply
    assert boot[0] == 3
    server.settle()
    with server.http() as http:
        ready = http.get("/readyz")
        assert ready.status_code == 200, ready.text


def test_vendor_data_with_nul_is_stored_and_read_models_stay_ready(server: LiveServer) -> None:
    server.whitelist("CB-NUL2")
    data = {"k\u0000": "v\u0000\u0085"}

    async def scenario() -> list[Any]:
        async with raw_socket(server, "CB-NUL2") as ws:
            return await exchange(ws, json.dumps([2, "m-1", "DataTransfer", {"vendorId": "V", "data": data}]))

    assert asyncio.run(scenario())[0] == 3
    server.settle()
    with server.http() as http:
        assert http.get("/readyz").status_code == 200
        events = http.get("/api/v1/chargers/CB-NUL2/events").json()["items"]
        assert any(e["type"].endswith("DataTransferred") or "data_json" in e["data"] for e in events)
