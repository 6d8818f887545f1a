"""Cost per day and month on the energy API over real ``ocpp`` chargers and real HTTP, on SQLite and
PostgreSQL: each day's and month's cost is the sum of its transactions' costs (one across the start of the
night tariff), a charger without a tariff adds energy but no cost, and ``cloudbay replay`` rebuilds the same
buckets as the live projection made."""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from adapters.auth import Role
from adapters.settings import StoreSettings
from cloudbay_domain.id_token import TokenKind
from projections.db import ReadModelDB
from projections.energy import EnergyQueries
from tests.cli_support import cloudbay
from tests.support import LiveServer, station

ALICE = "alice@example.com"
TARIFF = {
    "currency": "CHF",
    "price_per_kwh": "0.27",
    "time_zone": "Europe/Zurich",
    "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"},
}
DAY_A = (datetime.now(UTC) + timedelta(days=2)).replace(hour=0, minute=0, second=0, microsecond=0)
DAY_B = DAY_A + timedelta(days=1)
CARD = {"id_token": "EC01", "type": "ISO14443"}


def at(day: datetime, hours: float) -> str:
    return (day + timedelta(hours=hours)).isoformat()


async def charge(live: LiveServer, station_id: str, tx: str, readings: list[tuple[str, float]]) -> None:
    async with station(live, station_id) as cp:
        await cp.boot()
        for seq, (moment, wh) in enumerate(readings):
            kind = "Started" if seq == 0 else "Ended" if seq == len(readings) - 1 else "Updated"
            extra = {"id_token": CARD} if seq == 0 else {}
            await cp.transaction_event(kind, tx, seq, wh=wh, at=moment, **extra)


def scenario(live: LiveServer) -> None:
    for station_id in ("CB-EC1", "CB-EC2"):
        live.whitelist(station_id)
    live.platform.id_tokens.register("EC01", "ISO14443", ALICE, TokenKind.RFID)
    with live.http() as operator:
        assert operator.put("/api/v1/chargers/CB-EC1/tariff", json=TARIFF).status_code == 200

    async def sessions() -> None:
        # 21:30-23:30 in Zurich: 3 kWh at the day price, then 9 kWh at night
        await charge(live, "CB-EC1", "A", [(at(DAY_A, 20.5), 0), (at(DAY_A, 21.5), 6000), (at(DAY_A, 22.5), 12000)])
        await charge(live, "CB-EC1", "B", [(at(DAY_B, 10), 1000), (at(DAY_B, 11), 11000)])  # 10 kWh, day price
        await charge(live, "CB-EC2", "C", [(at(DAY_A, 9), 0), (at(DAY_A, 10), 4000)])  # no tariff

    asyncio.run(sessions())
    live.settle()


def costs(items: list[dict[str, Any]]) -> list[tuple[str, float, str | None, str | None]]:
    return [(i["period"], i["energy_wh"], i["cost"], i["currency"]) for i in items]


def test_cost_per_day_and_month_is_the_sum_of_the_transactions_costs(store_url: str, tmp_path: Path) -> None:
    live = LiveServer(store_url, tmp_path / "data").start()
    try:
        scenario(live)
        with live.http() as operator, live.http(Role.USER, email=ALICE) as alice:
            cost = {
                tx: operator.get(f"/api/v1/chargers/CB-EC1/transactions/{tx}").json()["cost"]["amount"]
                for tx in ("A", "B")
            }
            assert cost == {"A": "2.43", "B": "2.70"}  # 3 x 0.27 + 9 x 0.18; 10 x 0.27
            day_a, day_b = DAY_A.date().isoformat(), DAY_B.date().isoformat()
            days = operator.get("/api/v1/chargers/CB-EC1/energy").json()["items"]
            assert costs(days) == [(day_a, 12000, cost["A"], "CHF"), (day_b, 10000, cost["B"], "CHF")]
            by_month: dict[str, Decimal] = {}
            for day, tx in ((day_a, "A"), (day_b, "B")):
                by_month[day[:7]] = by_month.get(day[:7], Decimal(0)) + Decimal(cost[tx])
            months = operator.get("/api/v1/chargers/CB-EC1/energy?period=month").json()["items"]
            assert [(i["period"], i["cost"]) for i in months] == [(m, str(c)) for m, c in sorted(by_month.items())]
            assert costs(operator.get("/api/v1/chargers/CB-EC2/energy").json()["items"]) == [(day_a, 4000, None, None)]
            mine = alice.get("/api/v1/users/me/energy").json()["items"]  # both chargers: C adds energy, no cost
            assert costs(mine) == [(day_a, 16000, cost["A"], "CHF"), (day_b, 10000, cost["B"], "CHF")]
        assert live.runtime is not None
        before = live.runtime.energy.dump()
        head = live.head()
    finally:
        live.stop()
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}
    done = cloudbay(env, "replay", "--json", check=True)
    assert json.loads(done.stdout)["projections"]["energy"]["position"] == head
    db = ReadModelDB(StoreSettings(store_url))
    try:
        after = EnergyQueries(db).dump()
    finally:
        db.close()
    assert after == before and len(after["energy_cost_daily"]) == 2 and len(after["energy_tariffs"]) == 1
