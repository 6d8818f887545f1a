"""The charger simulator against a served platform: what it sends is what the platform records."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Callable

import httpx
import pytest

from cloudbay_domain.transaction import Attribution, TransactionStatus
from cloudbay_sim.simulator import SimConfig, SimStats, Simulation, TxRecord, run_simulation
from services.transactions import UnknownTransaction
from tests.support import LiveServer

INTERVAL = 0.05


def config(server: LiveServer, **overrides: object) -> SimConfig:
    base = SimConfig(url=server.ws_url("").rstrip("/"), meter_interval=INTERVAL, call_timeout=5, seconds=15)
    for name, value in overrides.items():
        setattr(base, name, value)
    return base


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_simulated_transactions_end_with_the_energy_sent(server: LiveServer) -> None:
    cfg = config(server, chargers=2, prefix="SIMT", transactions=1, samples=3, rfid="SIMCARD01")
    stats: SimStats = asyncio.run(run_simulation(cfg, api=server.base_url, token=server.token()))

    assert not stats.errors, stats.summary()
    assert stats.booted == 2 and len(stats.ended) == 2
    assert stats.csms_calls == {}  # chargers nobody owns get no card list (the card is authorized online)
    for record in stats.ended:
        tx = server.platform.transactions.get(record.station_id, record.transaction_id)
        figures = tx.figures()
        assert tx.status is TransactionStatus.ENDED
        assert sorted(tx.reports) == [0, 1, 2, 3, 4] and tx.missing_seq_nos == []
        assert record.energy_wh == pytest.approx(3 * cfg.power_w * INTERVAL / 3600, abs=0.002)
        assert figures["energy_wh"] == pytest.approx(record.energy_wh)
        assert figures["stopped_reason"] == "EVDisconnected" and figures["charging_state"] == "Idle"
        assert (tx.attribution, tx.user, tx.id_token) == (Attribution.CARD, "operator@example.com", "SIMCARD01")
    assert stats.energy_wh == pytest.approx(sum(r.energy_wh for r in stats.ended))
    history = [type(e).__qualname__ for e in server.platform.chargers.history("SIMT-0001")]
    assert history.count("Charger.ConnectorStatusChanged") == 3  # Available, Occupied, Available


def test_remote_stop_and_remote_start_from_the_app(server: LiveServer) -> None:
    server.whitelist("SIMR-0001")
    sim = Simulation(config(server, prefix="SIMR", transactions=1, samples=400, linger=True))
    headers = {"Authorization": f"Bearer {server.token()}"}
    charger_api = "/api/v1/chargers/SIMR-0001/transactions"

    def started(n: int) -> Callable[[], bool]:
        return lambda: len(sim.stats.transactions) == n and len(sim.stats.answered["TransactionEvent"]) >= 2 * n - 1

    def stored(record: TxRecord) -> bool:
        try:
            server.platform.transactions.get(record.station_id, record.transaction_id)
        except UnknownTransaction:
            return False
        return True

    async def stop(http: httpx.AsyncClient, record: TxRecord) -> None:
        await until(lambda: stored(record))  # its Started answered (counted above) may be another's Updated
        r = await http.post(f"{charger_api}/{record.transaction_id}/stop")
        assert r.status_code == 202, r.text
        await until(lambda: record.stopped_reason == "Remote" and not sim.chargers["SIMR-0001"].busy)  # Available

    async def scenario() -> tuple[SimStats, int]:
        run = asyncio.create_task(sim.run())
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, timeout=10) as http:
            await until(started(1))  # the scripted transaction is charging: stop it from the app
            await stop(http, sim.stats.transactions[0])
            r = await http.post(charger_api, json={"evse_id": 1})
            assert r.status_code == 202, r.text
            await until(started(2))
            await stop(http, sim.stats.transactions[1])
        sim.stop()
        return await run, r.json()["remote_start_id"]

    stats, remote_start_id = asyncio.run(scenario())

    assert not stats.errors, stats.summary()
    assert stats.csms_calls == {"RequestStopTransaction": 2, "RequestStartTransaction": 1}
    local, remote = (server.platform.transactions.get("SIMR-0001", r.transaction_id) for r in stats.ended)
    assert local.attribution is None and local.remote_start_id is None  # no card, and a charger requires RFID
    assert remote.remote_start_id == remote_start_id
    assert (remote.attribution, remote.user) == (Attribution.APP, "operator@example.com")
    for tx, record in zip((local, remote), stats.ended, strict=True):
        assert tx.status is TransactionStatus.ENDED and tx.figures()["stopped_reason"] == "Remote"
        assert tx.figures()["energy_wh"] == pytest.approx(record.energy_wh)


def test_simulate_command_whitelists_with_a_token_and_fails_without(server: LiveServer) -> None:
    def simulate(*extra: str) -> subprocess.CompletedProcess[str]:
        args = ["--url", server.ws_url("").rstrip("/"), "--api", server.base_url, "--samples", "1", "--seconds", "10"]
        command = [
            sys.executable,
            "-m",
            "adapters.cli.main",
            "simulate",
            *args,
            "--meter-interval",
            str(INTERVAL),
            *extra,
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=30)

    ok = simulate("--chargers", "2", "--prefix", "SIMC", "--token", server.token())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "transactions   2 ended" in ok.stdout and "errors         0" in ok.stdout
    assert server.platform.chargers.is_whitelisted("SIMC-0002")
    refused = simulate("--prefix", "UNKNOWN")  # not whitelisted, and no token to whitelist it
    assert refused.returncode == 1 and "connection rejected: HTTP 404" in refused.stdout
