"""A charger on a site is planned within the site's limits: a quote counts only on the power the site guarantees
the charger (its share when every charger of the site charges), so a plan never asks for more than the circuits
carry, whoever else plugs in meanwhile. Real HTTP, both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.support import LiveServer

FLAT = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}


def test_a_quote_on_a_site_counts_only_on_the_chargers_safe_share(server: LiveServer) -> None:
    for station in ("CB-Q1", "CB-Q2", "CB-Q3"):
        server.whitelist(station)
    by = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    with server.http() as http:
        site = http.post("/api/v1/sites", json={"name": "Garage", "max_current_a": 20}).json()["site_id"]
        for station in ("CB-Q1", "CB-Q2"):
            assert http.put(f"/api/v1/sites/{site}/chargers/{station}", json={}).status_code == 200
        for station in ("CB-Q1", "CB-Q3"):
            assert http.put(f"/api/v1/chargers/{station}/tariff", json=FLAT).status_code == 200

        def quote(station: str) -> dict[str, object]:
            answer = http.post(f"/api/v1/chargers/{station}/schedule-quotes", json={"energy_kwh": 30, "by": by})
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body

        shared = quote("CB-Q1")  # two chargers on 20 A: 10 A each on three phases, 6.9 kW
        limits = shared["limits"]
        assert isinstance(limits, dict) and Decimal(limits["max_power_w"]) == 6900
        assert shared["feasible"] is False  # 30 kWh in two hours needs 15 kW
        intervals = shared["intervals"]
        assert isinstance(intervals, list) and intervals
        assert all(Decimal(i["power_w"]) <= 6900 for i in intervals)
        assert Decimal(str(shared["energy_kwh"])) <= Decimal("13.800")  # 6.9 kW for two hours at most

        alone = quote("CB-Q3")  # on no site: only the charger's and the EV's limits
        assert isinstance(alone["limits"], dict) and Decimal(alone["limits"]["max_power_w"]) > 6900

        assert http.delete(f"/api/v1/sites/{site}/chargers/CB-Q2").status_code == 204
        own = quote("CB-Q1")  # alone on the site now: as much as the charger itself takes (16 A of the 20)
        assert isinstance(own["limits"], dict) and Decimal(own["limits"]["max_power_w"]) == 11040
