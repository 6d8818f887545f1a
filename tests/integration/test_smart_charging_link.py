"""SetChargingProfile (K01), ClearChargingProfile (K10) and GetCompositeSchedule (K08) through the platform's
link to a real ``ocpp`` 2.0.1 charger over a real WebSocket: the fields the charger receives, its answers read
back, a Rejected answer and a CALLERROR, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from services.ports import (
    CallFailed,
    ChargingProfile,
    ClearChargingProfile,
    CompositeAnswer,
    GetCompositeSchedule,
    SchedulePeriod,
    SetChargingProfile,
    StatusAnswer,
)
from tests.schedule_support import SmartStation, smart
from tests.support import LiveServer, station

START = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
PROFILE = ChargingProfile(
    id=7,
    stack_level=1,
    purpose="TxDefaultProfile",
    kind="Absolute",
    rate_unit="W",
    periods=(SchedulePeriod(0, 7400.0), SchedulePeriod(3600, 3700.0, 1), SchedulePeriod(7200, 0.0)),
    start=START,
    duration=9000,
    valid_from=START,
    valid_to=datetime(2026, 12, 2, 6, 0, tzinfo=UTC),
)


def run(server: LiveServer, station_id: str, requests: list[Any], **attributes: Any) -> tuple[list[Any], Any]:
    """Send ``requests`` in turn to a connected SmartStation; their answers (or errors) and what it received."""
    server.whitelist(station_id)

    async def go() -> tuple[list[Any], Any]:
        async with station(server, station_id, SmartStation, **attributes) as cp:
            await cp.boot()
            answers: list[Any] = []
            for request in requests:
                try:
                    answers.append(await server.ask(station_id, request))
                except CallFailed as error:
                    answers.append(error)
            return answers, cp.received

    return asyncio.run(go())


def test_a_profile_arrives_with_every_field(server: LiveServer) -> None:
    answers, received = run(server, "SC-1", [SetChargingProfile(1, PROFILE)])
    assert answers == [StatusAnswer("Accepted")]
    [(action, payload)] = smart(received)
    assert action == "SetChargingProfile" and payload["evse_id"] == 1
    profile = payload["charging_profile"]
    assert profile["id"] == 7 and profile["stack_level"] == 1
    assert profile["charging_profile_purpose"] == "TxDefaultProfile"
    assert profile["charging_profile_kind"] == "Absolute"
    assert profile["valid_from"] == "2026-12-01T22:00:00.000Z"
    assert profile["valid_to"] == "2026-12-02T06:00:00.000Z"
    assert "transaction_id" not in profile
    [schedule] = profile["charging_schedule"]
    assert schedule["id"] == 7 and schedule["charging_rate_unit"] == "W" and schedule["duration"] == 9000
    assert schedule["start_schedule"] == "2026-12-01T22:00:00.000Z"
    periods = [
        (p["start_period"], float(p["limit"]), p.get("number_phases")) for p in schedule["charging_schedule_period"]
    ]
    assert periods == [(0, 7400.0, None), (3600, 3700.0, 1), (7200, 0.0, None)]


def test_a_tx_profile_names_its_transaction(server: LiveServer) -> None:
    tx_profile = ChargingProfile(8, 2, "TxProfile", "Relative", "A", (SchedulePeriod(0, 16.0),), transaction_id="T-1")
    answers, received = run(server, "SC-2", [SetChargingProfile(1, tx_profile)])
    assert answers == [StatusAnswer("Accepted")]
    [(_, payload)] = smart(received)
    profile = payload["charging_profile"]
    assert profile["transaction_id"] == "T-1" and profile["charging_profile_kind"] == "Relative"
    assert profile["charging_schedule"][0]["charging_rate_unit"] == "A"
    assert "start_schedule" not in profile["charging_schedule"][0]


def test_clear_by_id_and_by_criteria(server: LiveServer) -> None:
    requests = [ClearChargingProfile(profile_id=7), ClearChargingProfile(evse_id=1, purpose="TxProfile", stack_level=2)]
    answers, received = run(server, "SC-3", requests)
    assert answers == [StatusAnswer("Accepted")] * 2
    [(_, by_id), (_, by_criteria)] = smart(received)
    assert by_id["charging_profile_id"] == 7 and "charging_profile_criteria" not in by_id
    assert by_criteria["charging_profile_criteria"] == {
        "evse_id": 1,
        "charging_profile_purpose": "TxProfile",
        "stack_level": 2,
    }


def test_the_composite_schedule_is_read_back(server: LiveServer) -> None:
    answers, received = run(server, "SC-4", [GetCompositeSchedule(3600, 1, "W")])
    [(_, payload)] = smart(received)
    assert payload == {"duration": 3600, "evse_id": 1, "charging_rate_unit": "W"}
    assert answers == [
        CompositeAnswer(
            "Accepted",
            start=START,
            duration=3600,
            rate_unit="W",
            periods=(SchedulePeriod(0, 7400.0), SchedulePeriod(3600, 3700.0, 1)),
        )
    ]


def test_a_refusal_is_an_answer_and_a_callerror_a_failure(server: LiveServer) -> None:
    answers, _ = run(server, "SC-5", [SetChargingProfile(1, PROFILE), GetCompositeSchedule(60, 1)], answer="Rejected")
    assert answers == [StatusAnswer("Rejected"), CompositeAnswer("Rejected")]
    [failed] = run(server, "SC-6", [SetChargingProfile(1, PROFILE)], refuse=True)[0]
    assert isinstance(failed, CallFailed) and failed.reason == "NotSupported"
