"""A charger answering the CSMS's call badly (nested too deep, not JSON, off the answer schema, not shaped like an
answer) fails that call at once: REST answers 502 `FormatViolation` (not a 504 after the call timeout) and the
failure is recorded as the charger's answer. Over a real WebSocket, with a raw client, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from cloudbay_domain.charger import Charger
from tests.support import LiveServer, raw_socket

CALL_TIMEOUT = 20.0  # far longer than any answer below takes: a 504 would mean the call ran into it
PROBLEM = "application/problem+json"


def nested(depth: int) -> Any:
    value: Any = {"vendorId": "V"}
    for _ in range(depth):
        value = {"vendorId": "V", "x": value}
    return value


BAD_ANSWERS: dict[str, Callable[[str], str]] = {  # the raw frame a charger sends as its answer to CALL ``uid``
    "nested-too-deep": lambda uid: json.dumps([3, uid, {"status": "Accepted", "customData": nested(80)}]),
    "too-deep-to-parse": lambda uid: f'[3,"{uid}",' + "[" * 100_000 + "]" * 100_000 + "]",
    "not-json": lambda uid: f'[3,"{uid}",{{"status": "Acc',
    "off-the-schema": lambda uid: json.dumps([3, uid, {"status": "Bogus"}]),
    "payload-not-an-object": lambda uid: json.dumps([3, uid, "Accepted"]),
    "call-error-misshapen": lambda uid: json.dumps([4, uid, "GenericError"]),
}


@pytest.fixture
def server(store_url: str, tmp_path: Path) -> Any:
    live = LiveServer(store_url, tmp_path / "data", ocpp_call_timeout=CALL_TIMEOUT).start()
    try:
        yield live
    finally:
        live.stop()


async def answer_badly(ws: ClientConnection, action: str, bad: Callable[[str], str]) -> None:
    """Answer every CALL of the CSMS as a plain charger would, except ``action``: that one gets ``bad``."""
    while True:
        frame = json.loads(await ws.recv())
        if frame[0] != 2:
            continue
        if frame[2] == action:
            await ws.send(bad(frame[1]))
            return
        await ws.send(json.dumps([3, frame[1], {"versionNumber": 0} if frame[2] == "GetLocalListVersion" else {}]))


async def exercise(
    server: LiveServer, station_id: str, action: str, bad: Callable[[str], str], request: Callable[[], httpx.Response]
) -> httpx.Response:
    async with raw_socket(server, station_id) as ws:
        charger = asyncio.create_task(answer_badly(ws, action, bad))
        answer = await asyncio.get_running_loop().run_in_executor(None, request)
        await asyncio.wait_for(charger, 5)
        return answer


def check_bad_gateway(answer: httpx.Response) -> None:
    assert answer.status_code == 502, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert answer.json()["reason"] == "FormatViolation"


def test_a_bad_answer_to_reset_fails_the_call_at_once_and_is_recorded(server: LiveServer) -> None:
    with server.http() as ops:
        for n, (name, bad) in enumerate(BAD_ANSWERS.items()):
            station_id = f"CB-BA{n}"
            server.whitelist(station_id)
            post = lambda s=station_id: ops.post(f"/api/v1/chargers/{s}/reset", json={"type": "Immediate"})  # noqa: E731
            answer = asyncio.run(exercise(server, station_id, "Reset", bad, post))
            check_bad_gateway(answer)
            recorded = [
                e.answer for e in server.platform.chargers.history(station_id) if type(e) is Charger.ResetRequested
            ]
            assert recorded == ["FormatViolation"], name


def test_a_bad_answer_to_a_remote_start_or_a_setting_is_a_502(server: LiveServer) -> None:
    server.whitelist("CB-BS1")
    server.whitelist("CB-BS2")
    with server.http() as ops:
        start = lambda: ops.post("/api/v1/chargers/CB-BS1/transactions", json={})  # noqa: E731
        started = asyncio.run(exercise(server, "CB-BS1", "RequestStartTransaction", BAD_ANSWERS["not-json"], start))
        setting = lambda: ops.put("/api/v1/chargers/CB-BS2/settings", json={"rfid_required": True})  # noqa: E731
        deep = BAD_ANSWERS["nested-too-deep"]
        changed = asyncio.run(exercise(server, "CB-BS2", "SetVariables", deep, setting))
    check_bad_gateway(started)
    answers = [e.answer for e in server.platform.chargers.history("CB-BS1") if type(e) is Charger.RemoteStartAnswered]
    assert answers == ["FormatViolation"]
    # the setting is kept (and answered 200) even when the charger cannot apply it; what it said is shown
    assert changed.status_code == 200 and changed.json()["applied_on_charger"] == "FormatViolation", changed.text
