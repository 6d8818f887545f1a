"""The database goes away under a running `cloudbay serve` with a charger connected (issue 9, item 5).

A TCP proxy of the test's own sits between the server and PostgreSQL and holds every byte (the server's
queries hang, as behind a dead network); the PostgreSQL server itself is never touched.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from adapters.settings import StoreSettings
from adapters.storage import drop_database, ensure_database
from tests.e2e.servers import Served, TcpProxy, base_env
from tests.pg_template import PG_BASE

STORE_TIMEOUT = 2.0
BOOT = [2, "b1", "BootNotification", {"chargingStation": {"model": "M", "vendorName": "V"}, "reason": "PowerUp"}]
STATUS = {"timestamp": "2026-11-25T10:00:00Z", "connectorStatus": "Available", "evseId": 1, "connectorId": 1}


@pytest.fixture
def proxied(tmp_path: Path) -> Iterator[tuple[Served, TcpProxy]]:
    name = f"cloudbay_test_{uuid.uuid4().hex[:12]}"
    ensure_database(StoreSettings(f"{PG_BASE}/{name}"))
    params = StoreSettings(f"{PG_BASE}/{name}").postgres_params()
    proxy = TcpProxy(params["host"], int(params["port"]))
    url = f"postgresql://{params['user']}@127.0.0.1:{proxy.port}/{name}"
    env = base_env(url, tmp_path / "data", CLOUDBAY_STORE_TIMEOUT=str(STORE_TIMEOUT))
    whitelisted = [sys.executable, "-m", "adapters.cli.main", "chargers", "add", "CB-OUT"]
    subprocess.run(whitelisted, env=env, check=True, capture_output=True, timeout=60)
    served = Served(env, tmp_path / "serve.log")
    try:
        yield served.start(), proxy
    finally:
        proxy.release()
        served.stop()
        proxy.close()
        drop_database(StoreSettings(f"{PG_BASE}/{name}"))


async def _call(ws: object, frame: list[object], timeout: float) -> list[object]:
    await ws.send(json.dumps(frame))  # type: ignore[attr-defined]
    return list(json.loads(await asyncio.wait_for(ws.recv(), timeout)))  # type: ignore[attr-defined]


def test_outage_charger_stays_connected_health_answers_and_sigterm_is_bounded(
    proxied: tuple[Served, TcpProxy],
) -> None:
    served, proxy = proxied

    async def drill() -> None:
        async with connect(f"{served.ws}/ocpp/CB-OUT", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            assert (await _call(ws, BOOT, 10))[0] == 3
            proxy.hold()
            started = time.monotonic()
            answer = await _call(ws, [2, "s1", "StatusNotification", STATUS], STORE_TIMEOUT + 8)
            assert answer[:3] == [4, "s1", "InternalError"], answer  # never a CALLRESULT for an unmade write
            assert time.monotonic() - started < STORE_TIMEOUT + 5
            async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
                t0 = time.monotonic()
                health = await http.get("/healthz")
                assert health.status_code == 200 and time.monotonic() - t0 < 1
                t0 = time.monotonic()
                ready = await http.get("/readyz")
                assert ready.status_code == 503 and time.monotonic() - t0 < 2
                assert ready.json()["store"] == "down" and ready.json()["error"]
            assert (await _call(ws, [2, "h1", "Heartbeat", {}], 5))[0] == 3  # the socket is still open
            await asyncio.sleep(STORE_TIMEOUT * 2)  # a longer outage: still connected, still answered
            assert (await _call(ws, [2, "s2", "StatusNotification", STATUS], STORE_TIMEOUT + 8))[2] == "InternalError"
            proxy.release()  # the database is back: the charger's retry is stored and answered
            assert (await _call(ws, [2, "s3", "StatusNotification", STATUS], STORE_TIMEOUT + 8))[0] == 3
            proxy.hold()
            started = time.monotonic()
            served.stop()  # SIGTERM, by PID, with the database away and the charger connected
            assert served.proc is not None and served.proc.returncode is not None
            assert time.monotonic() - started < 10, "SIGTERM took too long"

    asyncio.run(drill())


@pytest.mark.drill
def test_a_long_outage_keeps_the_charger_connected_and_it_reconnects_after(proxied: tuple[Served, TcpProxy]) -> None:
    """Before: after ~40 s every charger socket was closed with 1011 and reconnects timed out for a while."""
    served, proxy = proxied
    url = f"{served.ws}/ocpp/CB-OUT"

    async def drill() -> None:
        async with connect(url, subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
            assert (await _call(ws, BOOT, 10))[0] == 3
            proxy.hold()
            for n in range(5):  # about 50 s without a database
                answer = await _call(ws, [2, f"s{n}", "StatusNotification", STATUS], STORE_TIMEOUT + 8)
                assert answer[2] == "InternalError", answer
                assert (await _call(ws, [2, f"h{n}", "Heartbeat", {}], 5))[0] == 3
                await asyncio.sleep(8)
            proxy.release()
            deadline = time.monotonic() + 30
            while (answer := await _call(ws, [2, "s-after", "StatusNotification", STATUS], STORE_TIMEOUT + 8))[0] != 3:
                assert time.monotonic() < deadline, answer
                await asyncio.sleep(1)
        async with connect(url, subprotocols=["ocpp2.0.1"], open_timeout=10) as ws:  # type: ignore[list-item]
            assert (await _call(ws, BOOT, 10))[0] == 3

    asyncio.run(drill())


def test_sigterm_with_sqlite_locked_exits_in_time(tmp_path: Path) -> None:
    """SQLite "away": another process holds the write lock; calls are InternalError, SIGTERM stays bounded."""
    import sqlite3

    env = base_env(f"sqlite:///{tmp_path / 'cb.sqlite3'}", tmp_path / "data", CLOUDBAY_STORE_TIMEOUT=str(STORE_TIMEOUT))
    subprocess.run([sys.executable, "-m", "adapters.cli.main", "chargers", "add", "CB-OUT"], env=env, check=True)
    served = Served(env, tmp_path / "serve.log").start()
    locker = sqlite3.connect(tmp_path / "cb.sqlite3", isolation_level=None, timeout=30)
    try:

        async def drill() -> None:
            async with connect(f"{served.ws}/ocpp/CB-OUT", subprotocols=["ocpp2.0.1"]) as ws:  # type: ignore[list-item]
                assert (await _call(ws, BOOT, 10))[0] == 3
                locker.execute("BEGIN EXCLUSIVE")
                answer = await _call(ws, [2, "s1", "StatusNotification", STATUS], STORE_TIMEOUT + 8)
                assert answer[:3] == [4, "s1", "InternalError"], answer
                async with httpx.AsyncClient(base_url=served.base, timeout=5) as http:
                    t0 = time.monotonic()
                    assert (await http.get("/healthz")).status_code == 200 and time.monotonic() - t0 < 1
                    t0 = time.monotonic()
                    await http.get("/readyz")
                    assert time.monotonic() - t0 < 2
                started = time.monotonic()
                await asyncio.to_thread(served.stop)
                assert time.monotonic() - started < 10, "SIGTERM took too long"

        asyncio.run(drill())
    finally:
        locker.close()
        served.stop()


def test_readyz_says_when_the_projector_is_down(tmp_path: Path) -> None:
    """Before: /readyz said "ready" while serve's `cloudbay project` child was dead."""
    import os
    import signal

    env = base_env(f"sqlite:///{tmp_path / 'cb.sqlite3'}", tmp_path / "data")
    served = Served(env, tmp_path / "serve.log").start()
    try:
        assert httpx.get(f"{served.base}/readyz", timeout=5).json()["projector"] == "up"
        children = Path(f"/proc/{served.pid}/task/{served.pid}/children").read_text().split()
        os.kill(int(children[0]), signal.SIGKILL)  # the projector child of the server this test started
        deadline, seen = time.monotonic() + 2, None
        while time.monotonic() < deadline and seen is None:
            ready = httpx.get(f"{served.base}/readyz", timeout=5)
            if ready.json()["projector"] == "down":
                seen = ready
            time.sleep(0.05)
        assert seen is not None and seen.status_code == 503
    finally:
        served.stop()
