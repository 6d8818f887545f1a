"""Charging through real interfaces: a charger over OCPP 2.0.1, the app over HTTP; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.auth import Role
from cloudbay_domain.transaction import Attribution, TransactionStatus
from tests.ownership_support import pair
from tests.support import LiveServer, Station, station, wait_until

USER = "driver@example.com"
OTHER = "someone@example.com"


def user_http(server: LiveServer, email: str = USER) -> httpx.Client:
    return server.http(role=Role.USER, email=email)


def register_card(server: LiveServer, value: str, email: str = USER, kind: str = "rfid") -> dict[str, Any]:
    with user_http(server, email) as http:
        response = http.post("/api/v1/rfid-cards", json={"id_token": value, "kind": kind, "label": "blue card"})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def full_session(cp: Station, tx: str, token: str | None, registers: list[float]) -> list[Any]:
    answers = []
    fields: dict[str, Any] = {"id_token": {"id_token": token, "type": "ISO14443"}} if token else {}
    answers.append(
        await cp.transaction_event(
            "Started", tx, 0, trigger="Authorized", wh=registers[0], info={"charging_state": "Charging"}, **fields
        )
    )
    for n, wh in enumerate(registers[1:-1], start=1):
        answers.append(await cp.transaction_event("Updated", tx, n, at=f"2026-11-25T10:{n:02d}:00Z", wh=wh))
    answers.append(
        await cp.transaction_event(
            "Ended",
            tx,
            len(registers) - 1,
            at="2026-11-25T11:00:00Z",
            wh=registers[-1],
            trigger="EVCommunicationLost",
            info={"stopped_reason": "EVDisconnected", "charging_state": "Idle"},
        )
    )
    return answers


def test_rfid_card_is_pushed_authorised_and_charged(server: LiveServer) -> None:
    server.whitelist("CB-A1")
    pair(server, "CB-A1", USER)
    card = register_card(server, "04a1b2c3")
    assert card["id_token"] == "04A1B2C3" and card["user"] == USER and card["authorization"] == "Accepted"

    async def scenario() -> tuple[Station, list[Any], Any, Any]:
        async with station(server, "CB-A1") as cp:
            await cp.boot()
            await asyncio.sleep(0.3)  # the CSMS syncs the local list after the boot
            known = await cp.call(cp_authorize("04A1B2C3"), suppress=False)
            unknown = await cp.call(cp_authorize("DEADBEEF"), suppress=False)
            answers = await full_session(cp, "tx-1", "04a1b2c3", [1000, 2500, 4000, 6500.5])
            return cp, answers, known, unknown

    cp, answers, known, unknown = asyncio.run(scenario())
    assert [a for a, _ in cp.received] == ["GetLocalListVersion", "SendLocalList"]
    pushed = cp.received[1][1]
    assert pushed["version_number"] == 1 and pushed["update_type"] == "Full"
    assert pushed["local_authorization_list"][0]["id_token"]["id_token"] == "04A1B2C3"
    assert known.id_token_info["status"] == "Accepted" and unknown.id_token_info["status"] == "Unknown"
    assert answers[0].id_token_info == {"status": "Accepted"} and answers[1].id_token_info is None
    tx = server.platform.transactions.get("CB-A1", "tx-1")
    assert tx.status is TransactionStatus.ENDED and tx.user == USER and tx.attribution is Attribution.CARD
    figures = tx.figures()
    assert figures["energy_wh"] == pytest.approx(5500.5) and figures["stopped_reason"] == "EVDisconnected"
    assert figures["duration_s"] == 3600 and figures["missing_seq_nos"] == []
    assert server.platform.chargers.get("CB-A1").local_list_version == 1


def cp_authorize(value: str) -> Any:
    from ocpp.v201 import call

    return call.Authorize(id_token={"id_token": value, "type": "Local"})


def test_blocking_a_card_is_pushed_and_answered(server: LiveServer) -> None:
    server.whitelist("CB-A2")
    pair(server, "CB-A2", USER)
    register_card(server, "CARD-2")

    async def scenario() -> tuple[Station, Any]:
        async with station(server, "CB-A2") as cp:
            await cp.boot()
            wait = asyncio.get_running_loop().run_in_executor
            with user_http(server) as http:
                blocked = await wait(None, lambda: http.post("/api/v1/rfid-cards/CARD-2/block"))
            assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
            for _ in range(100):
                if cp.local_list_version == 2:
                    break
                await asyncio.sleep(0.05)
            answer = await cp.transaction_event(
                "Started", "tx-b", 0, trigger="Authorized", wh=0, id_token={"id_token": "CARD-2", "type": "ISO14443"}
            )
            return cp, answer

    cp, answer = asyncio.run(scenario())
    sent = [p for a, p in cp.received if a == "SendLocalList"]
    assert sent[-1]["version_number"] == 2
    assert sent[-1]["local_authorization_list"][0]["id_token_info"]["status"] == "Blocked"
    assert answer.id_token_info == {"status": "Blocked"}
    with user_http(server, OTHER) as other:
        before = server.head()
        assert other.post("/api/v1/rfid-cards/CARD-2/unblock").status_code == 404  # not revealed
        assert other.delete("/api/v1/rfid-cards/CARD-2").status_code == 404
        theirs, unknown = other.get("/api/v1/rfid-cards/CARD-2"), other.get("/api/v1/rfid-cards/NOPE")
        assert (theirs.status_code, unknown.status_code) == (404, 404)
        assert (theirs.json()["detail"], unknown.json()["detail"]) == ("no id token CARD-2", "no id token NOPE")
        assert server.head() == before
    with user_http(server) as http:
        assert http.post("/api/v1/rfid-cards", json={"id_token": "card-2"}).status_code == 409
        assert http.delete("/api/v1/rfid-cards/CARD-2").status_code == 204
        assert http.get("/api/v1/rfid-cards/CARD-2").json()["status"] == "removed"
        assert http.post("/api/v1/rfid-cards", json={"id_token": "x" * 37}).status_code == 422


def test_duplicates_offline_batches_and_out_of_order_delivery(server: LiveServer) -> None:
    server.whitelist("CB-A3")

    async def scenario() -> list[Any]:
        async with station(server, "CB-A3") as cp:
            await cp.boot()
            first = await cp.transaction_event("Started", "tx-o", 0, trigger="CablePluggedIn", wh=100)
            again = await cp.transaction_event("Started", "tx-o", 0, trigger="CablePluggedIn", wh=100)
            # the charger was offline: the end arrives before the middle, then a gap stays
            await cp.transaction_event(
                "Ended", "tx-o", 4, at="2026-11-25T10:40:00Z", wh=900, offline=True, info={"stopped_reason": "Local"}
            )
            await cp.transaction_event("Updated", "tx-o", 2, at="2026-11-25T10:20:00Z", wh=500, offline=True)
            await cp.transaction_event("Updated", "tx-o", 2, at="2026-11-25T10:20:00Z", wh=500, offline=True)
            return [first, again]

    first, again = asyncio.run(scenario())
    assert first == again
    tx = server.platform.transactions.get("CB-A3", "tx-o")
    assert sorted(tx.reports) == [0, 2, 4] and tx.missing_seq_nos == [[1, 1], [3, 3]]
    figures = tx.figures()
    assert figures["energy_wh"] == 800 and figures["status"] == "ended" and figures["stopped_reason"] == "Local"


def test_ended_before_started_and_updated_for_an_unknown_transaction(server: LiveServer) -> None:
    server.whitelist("CB-A4")

    async def scenario() -> None:
        async with station(server, "CB-A4") as cp:
            await cp.transaction_event("Updated", "tx-u", 3, at="2026-11-25T10:30:00Z", wh=300)
            await cp.transaction_event(
                "Ended", "tx-e", 5, at="2026-11-25T10:50:00Z", wh=700, info={"stopped_reason": "EVDisconnected"}
            )
            await cp.transaction_event("Started", "tx-e", 0, at="2026-11-25T10:00:00Z", wh=200, offline=True)

    asyncio.run(scenario())
    updated = server.platform.transactions.get("CB-A4", "tx-u")
    assert updated.status is TransactionStatus.ACTIVE and not updated.started_seen
    assert updated.missing_seq_nos == [[0, 2]]
    ended = server.platform.transactions.get("CB-A4", "tx-e")
    figures = ended.figures()
    assert figures["started_at"] == "2026-11-25T10:00:00+00:00" and figures["started_seen"]
    assert figures["energy_wh"] == 500 and figures["duration_s"] == 3000


def test_meter_values_going_backwards_and_unknown_units(server: LiveServer) -> None:
    server.whitelist("CB-A5")

    async def scenario() -> None:
        async with station(server, "CB-A5") as cp:
            await cp.transaction_event("Started", "tx-m", 0, wh=5000)
            await cp.transaction_event(
                "Updated",
                "tx-m",
                1,
                at="2026-11-25T10:10:00Z",
                meter=[
                    {
                        "timestamp": "2026-11-25T10:10:00Z",
                        "sampled_value": [
                            {"value": 6.0, "unit_of_measure": {"unit": "kWh"}},
                            {"value": 3, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
                            {
                                "value": 42,
                                "unit_of_measure": {"unit": "Furlongs"},
                                "location": "Outlet",
                                "measurand": "Energy.Active.Export.Register",
                            },
                        ],
                    }
                ],
            )
            await cp.transaction_event("Updated", "tx-m", 2, at="2026-11-25T10:20:00Z", wh=100)  # register reset
            await cp.transaction_event("Ended", "tx-m", 3, at="2026-11-25T10:30:00Z", wh=400)
            await cp.call(cp_meter_values(), suppress=False)

    asyncio.run(scenario())
    figures = server.platform.transactions.get("CB-A5", "tx-m").figures()
    assert figures["energy_wh"] == 1000 + 300 and figures["register_resets"] == 1
    assert figures["max_power_w"] == 3000 and figures["unknown_unit_samples"] == 1
    assert server.platform.chargers.get("CB-A5").meter_value_reports == 1  # J03 outside a transaction


def cp_meter_values() -> Any:
    from ocpp.v201 import call

    return call.MeterValues(
        evse_id=0, meter_value=[{"timestamp": "2026-11-25T11:00:00Z", "sampled_value": [{"value": 123456}]}]
    )


def test_bad_meter_values_are_refused_whole(server: LiveServer) -> None:
    server.whitelist("CB-A6")

    async def scenario() -> tuple[list[Any], list[Any]]:
        from tests.support import exchange, raw_socket

        async with raw_socket(server, "CB-A6") as ws:
            await asyncio.sleep(0.05)
            bad_time = await exchange(
                ws,
                '[2, "b1", "TransactionEvent", {"eventType": "Started", "timestamp": '
                '"2026-11-25T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0, '
                '"transactionInfo": {"transactionId": "tx-bad"}, "meterValue": [{"timestamp": '
                '"soon", "sampledValue": [{"value": 1}]}]}]',
            )
            bad_type = await exchange(
                ws,
                '[2, "b2", "TransactionEvent", {"eventType": "Started", "timestamp": '
                '"2026-11-25T10:00:00Z", "triggerReason": "Authorized", "seqNo": 0, '
                '"transactionInfo": {"transactionId": "tx-bad"}, "meterValue": [{"timestamp": '
                '"2026-11-25T10:00:00Z", "sampledValue": [{"value": "lots"}]}]}]',
            )
            return bad_time, bad_type

    before = server.head()
    bad_time, bad_type = asyncio.run(scenario())
    assert bad_time[2] == "PropertyConstraintViolation" and bad_type[2] == "TypeConstraintViolation"
    wait_until(lambda: server.head() == before + 2)  # only the session's Connected and Disconnected
    from services.transactions import UnknownTransaction

    with pytest.raises(UnknownTransaction):
        server.platform.transactions.get("CB-A6", "tx-bad")


def test_start_and_stop_from_the_app(server: LiveServer) -> None:
    server.whitelist("CB-A7")
    pair(server, "CB-A7", USER)

    async def scenario() -> tuple[Station, dict[str, Any], dict[str, Any]]:
        async with station(server, "CB-A7") as cp:
            await cp.boot()
            wait = asyncio.get_running_loop().run_in_executor
            with user_http(server) as http:
                started = await wait(
                    None, lambda: http.post("/api/v1/chargers/CB-A7/transactions", json={"evse_id": 1})
                )
            assert started.status_code == 202, started.text
            remote_start_id = started.json()["remote_start_id"]
            # a real charger's Started: remoteStartId, no idToken
            await cp.transaction_event(
                "Started", "tx-r", 0, trigger="RemoteStart", wh=0, info={"remote_start_id": remote_start_id}
            )
            with user_http(server, OTHER) as other:
                before = server.head()
                forbidden = await wait(None, lambda: other.post("/api/v1/chargers/CB-A7/transactions/tx-r/stop"))
                assert forbidden.status_code == 404 and server.head() == before  # not revealed
            with user_http(server) as http:
                stopped = await wait(None, lambda: http.post("/api/v1/chargers/CB-A7/transactions/tx-r/stop"))
            return cp, started.json(), stopped.json()

    cp, started, stopped = asyncio.run(scenario())
    start_call = next(p for a, p in cp.received if a == "RequestStartTransaction")
    assert start_call["remote_start_id"] == started["remote_start_id"] and start_call["evse_id"] == 1
    assert start_call["id_token"]["type"] == "Central"
    assert ("RequestStopTransaction", {"transaction_id": "tx-r"}) in cp.received
    assert stopped["status"] == "Accepted"
    tx = server.platform.transactions.get("CB-A7", "tx-r")
    assert tx.user == USER and tx.attribution is Attribution.APP
    types = [type(e).__qualname__ for e in server.platform.chargers.history("CB-A7")]
    assert types.count("Charger.RemoteStartRequested") == types.count("Charger.RemoteStartAnswered") == 1
    assert types.count("Charger.RemoteStopRequested") == 1


def test_app_start_refused_offline_or_failing(server: LiveServer) -> None:
    server.whitelist("CB-A8")
    pair(server, "CB-A8", USER)
    with user_http(server) as http:
        offline = http.post("/api/v1/chargers/CB-A8/transactions", json={})
        assert offline.status_code == 409 and offline.json()["reason"] == "Offline"
        assert http.post("/api/v1/chargers/NOPE/transactions", json={}).status_code == 404
        assert http.post("/api/v1/chargers/CB-A8/transactions", json={"evse_id": 0}).status_code == 422
        assert http.post("/api/v1/chargers/CB-A8/transactions/nope/stop").status_code == 404

    async def scenario() -> httpx.Response:
        async with station(server, "CB-A8", start_answer="Rejected") as cp:
            await cp.boot()
            wait = asyncio.get_running_loop().run_in_executor
            with user_http(server) as http:
                return await wait(None, lambda: http.post("/api/v1/chargers/CB-A8/transactions", json={}))

    rejected = asyncio.run(scenario())
    assert rejected.status_code == 409 and rejected.json()["reason"] == "Rejected"
    assert rejected.headers["content-type"] == "application/problem+json"


def test_app_start_times_out_with_504(store_url: str, tmp_path: Path) -> None:
    server = LiveServer(store_url, tmp_path / "data", ocpp_call_timeout=0.5).start()
    try:
        server.whitelist("CB-A9")
        pair(server, "CB-A9", USER)

        async def scenario() -> httpx.Response:
            async with station(server, "CB-A9", answer_delay=2.0) as cp:
                await cp.boot()
                wait = asyncio.get_running_loop().run_in_executor
                with user_http(server) as http:
                    return await wait(None, lambda: http.post("/api/v1/chargers/CB-A9/transactions", json={}))

        response = asyncio.run(scenario())
        assert response.status_code == 504 and response.json()["reason"] == "Timeout"
        answered = [e for e in server.platform.chargers.history("CB-A9") if hasattr(e, "answer")]
        assert answered[-1].answer == "Timeout"
    finally:
        server.stop()


def test_rfid_not_required_charges_the_default_account(server: LiveServer) -> None:
    server.whitelist("CB-B1")

    async def scenario() -> tuple[Station, dict[str, Any]]:
        async with station(server, "CB-B1") as cp:
            await cp.boot()
            wait = asyncio.get_running_loop().run_in_executor
            with server.http() as http:
                changed = await wait(
                    None, lambda: http.put("/api/v1/chargers/CB-B1/settings", json={"rfid_required": False})
                )
            await cp.transaction_event("Started", "tx-d", 0, trigger="CablePluggedIn", wh=10)
            return cp, changed.json()

    cp, changed = asyncio.run(scenario())
    assert changed["rfid_required"] is False and changed["applied_on_charger"] == "Accepted"
    variable = next(p for a, p in cp.received if a == "SetVariables")["set_variable_data"][0]
    assert variable["component"]["name"] == "AuthCtrlr" and variable["attribute_value"] == "false"
    assert server.platform.transactions.get("CB-B1", "tx-d").attribution is Attribution.DEFAULT_ACCOUNT
    with user_http(server) as http:  # a stranger to the charger; then its guest, who may not change settings
        assert http.put("/api/v1/chargers/CB-B1/settings", json={"rfid_required": True}).status_code == 404
        pair(server, "CB-B1", "owner@example.com", guests=[USER])
        assert http.put("/api/v1/chargers/CB-B1/settings", json={"rfid_required": True}).status_code == 403


def test_guest_token_attributes_to_the_guest(server: LiveServer) -> None:
    server.whitelist("CB-B2")
    register_card(server, "GUEST-7", email="guest@example.com", kind="guest")

    async def scenario() -> None:
        async with station(server, "CB-B2") as cp:
            await cp.transaction_event(
                "Started", "tx-g", 0, trigger="Authorized", wh=0, id_token={"id_token": "GUEST-7", "type": "KeyCode"}
            )

    asyncio.run(scenario())
    tx = server.platform.transactions.get("CB-B2", "tx-g")
    assert tx.user == "guest@example.com" and tx.attribution is Attribution.GUEST


def test_a_restart_mid_transaction_loses_nothing(store_url: str, tmp_path: Path) -> None:
    first = LiveServer(store_url, tmp_path / "data").start()
    try:
        first.whitelist("CB-B3")

        async def before_restart() -> None:
            async with station(first, "CB-B3") as cp:
                await cp.transaction_event("Started", "tx-s", 0, trigger="Authorized", wh=1000)
                await cp.transaction_event("Updated", "tx-s", 1, at="2026-11-25T10:15:00Z", wh=2000)

        asyncio.run(before_restart())
    finally:
        first.stop()
    second = LiveServer(store_url, tmp_path / "data").start()
    try:

        async def after_restart() -> None:
            async with station(second, "CB-B3") as cp:
                await cp.transaction_event("Updated", "tx-s", 2, at="2026-11-25T10:30:00Z", wh=3000)
                await cp.transaction_event(
                    "Ended", "tx-s", 3, at="2026-11-25T10:45:00Z", wh=4000, info={"stopped_reason": "EVDisconnected"}
                )

        asyncio.run(after_restart())
        figures = second.platform.transactions.get("CB-B3", "tx-s").figures()
        assert figures["energy_wh"] == 3000 and figures["status"] == "ended" and figures["missing_seq_nos"] == []
    finally:
        second.stop()
