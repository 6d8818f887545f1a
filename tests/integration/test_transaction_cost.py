"""A transaction's cost on the transaction API, from its meter values at the charger's tariff, over a real
``ocpp`` charger and real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from tests.support import LiveServer, station

FLAT = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}


def test_the_transaction_shows_what_it_cost(server: LiveServer) -> None:
    server.whitelist("COST-1")
    with server.http() as operator:
        assert operator.put("/api/v1/chargers/COST-1/tariff", json=FLAT).status_code == 200
    start = datetime.now(UTC) + timedelta(minutes=1)

    async def charge() -> None:
        async with station(server, "COST-1") as cp:
            await cp.boot()
            await cp.transaction_event("Started", "C-1", 0, wh=1000, at=start.isoformat())
            later = (start + timedelta(minutes=30)).isoformat()
            await cp.transaction_event("Updated", "C-1", 1, wh=6000, at=later)

    asyncio.run(charge())
    server.settle()
    with server.http() as operator:
        body = operator.get("/api/v1/chargers/COST-1/transactions/C-1").json()
        listed = operator.get("/api/v1/transactions?charger=COST-1").json()
    assert body["energy_wh"] == 5000
    assert body["cost"] == {"currency": "CHF", "amount": "1.50", "priced_energy_kwh": "5.000"}
    assert listed["items"][0]["transaction_id"] == "C-1"  # the list does not price (no cost field needed)


def test_a_charger_without_a_tariff_has_no_cost(server: LiveServer) -> None:
    server.whitelist("COST-2")

    async def charge() -> None:
        async with station(server, "COST-2") as cp:
            await cp.boot()
            await cp.transaction_event("Started", "C-2", 0, wh=0)
            await cp.transaction_event("Updated", "C-2", 1, wh=500, at="2026-11-25T10:30:00Z")

    asyncio.run(charge())
    server.settle()
    with server.http() as operator:
        body = operator.get("/api/v1/chargers/COST-2/transactions/C-2").json()
    assert body["energy_wh"] == 500 and body["cost"] is None
