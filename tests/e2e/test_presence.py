"""Presence survives a crash (issue 9, item 3): a real `cloudbay serve`, a real OCPP client, SIGKILL by PID.

Before the lease, a charger connected when its node was killed stayed online in the read model for ever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests import cli_support
from tests.e2e.servers import Served, base_env

LEASE = 3.0
BOOT = '[2, "b1", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]'


def cloudbay(env: dict[str, str], *args: str) -> str:
    return cli_support.cloudbay(env, *args, check=True).stdout


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    env = base_env(store_url, tmp_path / "data", CLOUDBAY_NODE_LEASE_SECONDS=str(LEASE))
    for station in ("CB-P1", "CB-P2"):
        cloudbay(env, "chargers", "add", station)
    cloudbay(env, "users", "add", "ops@example.com", "--role", "operator")
    return env


@pytest.fixture
def nodes(env: dict[str, str], tmp_path: Path) -> Iterator[list[Served]]:
    started: list[Served] = []
    try:
        yield started
    finally:
        for served in started:
            served.stop()


def presence(served: Served, token: str, station: str) -> str:
    headers = {"Authorization": f"Bearer {token}"}
    body = httpx.get(f"{served.base}/api/v1/chargers/{station}", headers=headers, timeout=5).json()
    return str(body.get("presence", "not projected yet"))  # a 404 until the node's projector has caught up


def wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


async def hold_open(url: str, connected: asyncio.Event, release: asyncio.Event) -> None:
    async with connect(url, subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
        await ws.send(BOOT)
        await asyncio.wait_for(ws.recv(), 10)
        connected.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            pass


def test_a_killed_node_restarted_closes_its_old_sessions(
    env: dict[str, str], nodes: list[Served], tmp_path: Path
) -> None:
    node_env = {**env, "CLOUDBAY_NODE": "node-a"}
    served = Served(node_env, tmp_path / "a.log").start()
    nodes.append(served)
    token = cloudbay(env, "token", "ops@example.com").strip()

    async def drill() -> None:
        connected, release = asyncio.Event(), asyncio.Event()
        client = asyncio.create_task(hold_open(f"{served.ws}/ocpp/CB-P1", connected, release))
        await asyncio.wait_for(connected.wait(), 15)
        await asyncio.to_thread(wait_for, lambda: presence(served, token, "CB-P1") == "online", 10)
        served.kill()  # SIGKILL by PID: nothing recorded the disconnect
        release.set()
        await client
        restarted = Served(node_env, tmp_path / "a2.log", port=served.port).start()
        nodes.append(restarted)
        await asyncio.to_thread(wait_for, lambda: presence(restarted, token, "CB-P1") == "offline", 3 * LEASE + 10)

    asyncio.run(drill())


def test_the_sessions_of_a_node_whose_lease_expired_are_swept_the_others_stay(
    env: dict[str, str], nodes: list[Served], tmp_path: Path
) -> None:
    a = Served({**env, "CLOUDBAY_NODE": "node-a"}, tmp_path / "a.log").start()
    b = Served({**env, "CLOUDBAY_NODE": "node-b"}, tmp_path / "b.log").start()
    nodes += [a, b]
    token = cloudbay(env, "token", "ops@example.com").strip()

    async def drill() -> None:
        ca, ra, cb, rb = asyncio.Event(), asyncio.Event(), asyncio.Event(), asyncio.Event()
        on_a = asyncio.create_task(hold_open(f"{a.ws}/ocpp/CB-P1", ca, ra))
        on_b = asyncio.create_task(hold_open(f"{b.ws}/ocpp/CB-P2", cb, rb))
        await asyncio.wait_for(asyncio.gather(ca.wait(), cb.wait()), 15)
        both = lambda: presence(b, token, "CB-P1") == presence(b, token, "CB-P2") == "online"  # noqa: E731
        await asyncio.to_thread(wait_for, both, 10)
        a.kill()  # node-a is gone and never comes back: node-b's sweeper closes its session
        ra.set()
        await on_a
        await asyncio.to_thread(wait_for, lambda: presence(b, token, "CB-P1") == "offline", 3 * LEASE + 10)
        await asyncio.sleep(LEASE)  # several sweeps later, node-b's own charger is still online
        assert presence(b, token, "CB-P2") == "online"
        rb.set()
        await on_b

    asyncio.run(drill())
