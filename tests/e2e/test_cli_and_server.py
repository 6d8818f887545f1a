"""As an operator would: the `cloudbay` command, a served platform, a charger, the REST API."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from ocpp.v201 import ChargePoint, call
from websockets.asyncio.client import connect

from tests import cli_support
from tests.support import free_socket, wait_until


def cloudbay(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return cli_support.cloudbay(env, *args, check=check)


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}


@pytest.fixture
def served(env: dict[str, str]) -> Iterator[str]:
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "adapters.cli.main",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read() if proc.stderr else ''}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()  # only the process this test started, by its PID
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def test_operator_tour(env: dict[str, str], served: str) -> None:
    added = cloudbay(env, "chargers", "add", "CB-900", "--family", "alpha")
    assert "whitelisted CB-900" in added.stdout
    twice = cloudbay(env, "chargers", "add", "CB-900", check=False)
    assert twice.returncode == 1 and "already whitelisted" in twice.stderr
    registered = cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    secret = registered.stdout.split("client secret:")[1].strip()
    token = cloudbay(env, "token", "ops@example.com").stdout.strip()

    async def charger() -> str:
        async with connect(served.replace("http", "ws") + "/ocpp/CB-900", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            cp = ChargePoint("CB-900", ws, response_timeout=5)
            task = asyncio.create_task(cp.start())
            boot = await cp.call(
                call.BootNotification(
                    charging_station={"model": "M", "vendor_name": "V", "firmware_version": "3.1"}, reason="PowerUp"
                ),
                suppress=False,
            )
            await cp.call(
                call.StatusNotification(
                    timestamp="2026-11-25T10:00:00Z", connector_status="Available", evse_id=1, connector_id=1
                ),
                suppress=False,
            )
            task.cancel()
            return str(boot.status)

    assert asyncio.run(charger()) == "Accepted"
    with httpx.Client(base_url=served, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        deadline = time.monotonic() + 10
        while not (body := http.get("/api/v1/chargers/CB-900").json()).get("connectors"):  # the projector catches up
            assert time.monotonic() < deadline, body
            time.sleep(0.1)
        assert body["connectors"][0]["status"] == "Available"
        events = http.get("/api/v1/chargers/CB-900/events").json()["items"]
        assert [e["type"] for e in events][:3] == ["Charger.Whitelisted", "Charger.Connected", "Charger.Booted"]
    granted = httpx.post(
        f"{served}/oauth/token", data={"grant_type": "client_credentials"}, auth=("ops@example.com", secret), timeout=10
    )
    assert granted.status_code == 200 and granted.json()["token_type"] == "Bearer"

    listed = cloudbay(env, "chargers", "list")
    assert "CB-900" in listed.stdout
    replayed = json.loads(cloudbay(env, "replay", "--json").stdout)
    # positions may have gaps (a rolled-back insert uses one up on PostgreSQL): the rebuild reaches the head
    assert replayed["projections"]["fleet"]["position"] == replayed["head"]
    # the serving node's projector may apply part of the rebuild itself: the batches are shared, never doubled;
    # the summary counts the log's events up to the position reached, whoever applied them
    fleet = replayed["projections"]["fleet"]
    assert 0 <= fleet["events"] <= fleet["log_events"] and fleet["log_events"] >= 3 and fleet["skipped"] == 0
    assert "CB-900" in cloudbay(env, "chargers", "list").stdout


def test_bad_configuration_is_a_clear_error(tmp_path: Path) -> None:
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": "mysql://nope", "CLOUDBAY_DATA_DIR": str(tmp_path)}
    done = cloudbay(env, "chargers", "add", "CB-1", check=False)
    assert done.returncode == 2 and "unsupported scheme" in done.stderr


def test_live_feed_and_read_models_with_the_projector_process(env: dict[str, str], served: str) -> None:
    """`cloudbay serve` keeps read models in a child process; the live feed tails what it has applied."""
    cloudbay(env, "chargers", "add", "CB-901")
    cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    token = cloudbay(env, "token", "ops@example.com").stdout.strip()
    ws_base = served.replace("http", "ws")

    def known() -> bool:  # the projector has seen the charger: the live feed admits watchers of known ones
        return httpx.get(f"{served}/api/v1/chargers/CB-901", headers={"Authorization": f"Bearer {token}"}).is_success

    wait_until(known, timeout=10)

    async def scenario() -> list[dict[str, Any]]:
        async with connect(f"{ws_base}/api/v1/live?charger=CB-901&access_token={token}") as live:
            snapshot = json.loads(await asyncio.wait_for(live.recv(), 10))
            async with connect(f"{ws_base}/ocpp/CB-901", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
                cp = ChargePoint("CB-901", ws, response_timeout=5)
                task = asyncio.create_task(cp.start())
                await cp.call(
                    call.TransactionEvent(
                        event_type="Started",
                        timestamp="2026-11-25T10:00:00Z",
                        trigger_reason="CablePluggedIn",
                        seq_no=0,
                        transaction_info={"transaction_id": "tx-live"},
                        meter_value=[{"timestamp": "2026-11-25T10:00:00Z", "sampled_value": [{"value": 100}]}],
                    ),
                    suppress=False,
                )
                await cp.call(
                    call.TransactionEvent(
                        event_type="Updated",
                        timestamp="2026-11-25T10:05:00Z",
                        trigger_reason="MeterValuePeriodic",
                        seq_no=1,
                        transaction_info={"transaction_id": "tx-live"},
                        meter_value=[{"timestamp": "2026-11-25T10:05:00Z", "sampled_value": [{"value": 900}]}],
                    ),
                    suppress=False,
                )
                task.cancel()
            messages = [snapshot]
            while not messages[-1].get("energy_wh"):
                messages.append(json.loads(await asyncio.wait_for(live.recv(), 10)))
            return messages

    messages = asyncio.run(scenario())
    assert messages[0]["type"] == "snapshot" and messages[0]["transactions"] == []
    assert messages[-1]["transaction_id"] == "tx-live" and messages[-1]["energy_wh"] == 800
    with httpx.Client(base_url=served, headers={"Authorization": f"Bearer {token}"}, timeout=10) as http:
        rows = http.get("/api/v1/transactions?charger=CB-901").json()["items"]
        assert rows[0]["energy_wh"] == 800  # the live message came after the read model had it
        ready = http.get("/readyz").json()
        assert ready["status"] == "ready" and set(ready["read_models"]) == {
            "fleet",
            "id_tokens",
            "transactions",
            "energy",
            "users",
            "webhook_outbox",
            "production",
            "security_events",
            "members",
            "rollouts",
            "firmware_images",
        }


def test_the_rollout_feed_with_the_projector_process(env: dict[str, str], served: str) -> None:
    """The serving process tails the rollouts read model the child keeps: a campaign's decisions reach a watcher."""
    cloudbay(env, "chargers", "add", "CB-902", "--family", "home-22kw")
    cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    token = cloudbay(env, "token", "ops@example.com").stdout.strip()
    http = httpx.Client(base_url=served, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    wait_until(lambda: http.get("/api/v1/chargers/CB-902").is_success, timeout=10)  # the projector saw it
    image = {"version": "2.0.0", "location": "https://firmware.example.com/2.0.0.bin"}
    created = http.post("/api/v1/rollouts", json={"family": "home-22kw", "channel": "stable", "image": image})
    assert created.status_code == 201, created.text
    campaign_id = created.json()["campaign_id"]

    async def scenario() -> list[dict[str, Any]]:
        url = f"{served.replace('http', 'ws')}/api/v1/live?rollout={campaign_id}&access_token={token}"
        async with connect(url) as live:
            messages = [json.loads(await asyncio.wait_for(live.recv(), 10))]
            for command in ("start", "pause"):
                assert (await asyncio.to_thread(http.post, f"/api/v1/rollouts/{campaign_id}/{command}")).is_success
            while messages[-1]["rollout"]["state"] != "paused":
                messages.append(json.loads(await asyncio.wait_for(live.recv(), 10)))
            return messages

    try:
        messages = asyncio.run(scenario())
    finally:
        http.close()
    assert messages[0]["type"] == "snapshot" and messages[0]["rollout"]["targets"] == 1
    assert {m["type"] for m in messages[1:]} == {"progress"}
