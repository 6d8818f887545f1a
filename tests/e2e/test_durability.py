"""Durable before the answer (issue 10, item 2): a TransactionEvent answered is committed, even if the node dies
the instant after.

A real `cloudbay serve`, real OCPP 2.0.1 clients (the ``ocpp`` library's) over real WebSockets, SIGKILL by PID.
Several chargers send TransactionEvents back to back, so that commits and answers are in flight together; the
moment the chosen number of answers has arrived, the server is SIGKILLed (no chance to flush or close
anything). It is restarted on the same store, and every event any charger got a CALLRESULT for must be in the
event log. On both stores; `DURABILITY_ROUNDS=N` repeats it N times in a row.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import suppress
from pathlib import Path

import pytest
from eventsourcing.application import AggregateNotFoundError
from ocpp.v201 import call
from websockets.asyncio.client import connect

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log, build_platform
from cloudbay_domain.transaction import Transaction
from tests.e2e.servers import Served, base_env
from tests.support import Station

pytestmark = pytest.mark.slow

CHARGERS = 8
ROUNDS = int(os.environ.get("DURABILITY_ROUNDS", "1"))  # one round each store by default; more for a drill
ANSWERS_BEFORE_KILL = 20  # per round, over all chargers
Acked = list[tuple[str, str, int]]  # (station, transaction id, seqNo) answered with a CALLRESULT


def event(transaction_id: str, seq_no: int) -> call.TransactionEvent:
    register = {"value": 10.0 * seq_no, "measurand": "Energy.Active.Import.Register", "unit_of_measure": {"unit": "Wh"}}
    return call.TransactionEvent(
        event_type="Started" if seq_no == 0 else "Updated",
        timestamp="2026-11-25T10:00:00Z",
        trigger_reason="CablePluggedIn" if seq_no == 0 else "MeterValuePeriodic",
        seq_no=seq_no,
        transaction_info={"transaction_id": transaction_id, "charging_state": "Charging"},
        meter_value=[{"timestamp": "2026-11-25T10:00:00Z", "sampled_value": [register]}],
        evse={"id": 1, "connector_id": 1},
    )


async def charge_until_killed(served: Served, station: str, round_no: int, acked: Acked, killed: asyncio.Event) -> None:
    """Send TransactionEvents back to back; SIGKILL the server right after the answer that makes the count."""
    async with connect(f"{served.ws}/ocpp/{station}", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        charger = Station(station, ws, response_timeout=10)
        reader = asyncio.create_task(charger.start())
        try:
            boot = call.BootNotification(charging_station={"model": "M", "vendor_name": "V"}, reason="PowerUp")
            await charger.call(boot, suppress=False)
            transaction_id = f"R{round_no}-{station}"
            for seq_no in range(1000):
                await charger.call(event(transaction_id, seq_no), suppress=False)
                acked.append((station, transaction_id, seq_no))
                if len(acked) >= ANSWERS_BEFORE_KILL and not killed.is_set():
                    served.kill()  # SIGKILL at once, by PID: the answer has just arrived
                    killed.set()
        finally:
            reader.cancel()


async def round_of_load(served: Served, stations: list[str], round_no: int) -> Acked:
    acked: Acked = []
    killed = asyncio.Event()
    chargers = [asyncio.create_task(charge_until_killed(served, s, round_no, acked, killed)) for s in stations]
    done, _ = await asyncio.wait([asyncio.create_task(killed.wait()), *chargers], return_when=asyncio.FIRST_COMPLETED)
    for task in chargers:
        task.cancel()
    for task in chargers:  # the chargers' connections died with the server
        with suppress(BaseException):
            await task
    assert killed.is_set(), [t.exception() for t in done if t in chargers]
    return acked


def missing_from_the_store(url: str, data: Path, acked: Acked) -> Acked:
    log = build_log(Settings(store=StoreSettings(url), data_dir=data))
    missing = []
    try:
        for station, transaction_id, seq_no in acked:
            try:
                if not log.repository.get(Transaction.create_id(station, transaction_id)).has_seen(seq_no):
                    missing.append((station, transaction_id, seq_no))
            except AggregateNotFoundError:
                missing.append((station, transaction_id, seq_no))
    finally:
        log.close()
    return missing


def test_every_answered_transaction_event_survives_a_sigkill_of_the_server(store_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = base_env(store_url, data, CLOUDBAY_PROJECTIONS="inline")
    stations = [f"CB-DUR{i}" for i in range(CHARGERS)]
    with build_platform(Settings(store=StoreSettings(store_url), data_dir=data)) as platform:
        for station in stations:
            platform.chargers.whitelist(station, "default")
    answered: Acked = []
    served = Served(env, tmp_path / "serve-0.log").start()
    try:
        for round_no in range(1, ROUNDS + 1):
            acked = asyncio.run(round_of_load(served, stations, round_no))
            assert served.proc is not None and served.proc.returncode == -9  # SIGKILLed
            served = Served(env, tmp_path / f"serve-{round_no}.log", port=served.port).start()  # restarted
            answered += acked
            assert len(acked) >= ANSWERS_BEFORE_KILL
            assert missing_from_the_store(store_url, data, answered) == []
    finally:
        served.stop()
