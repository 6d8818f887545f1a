"""Tariffs, price series and schedule quotes over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.auth import Role
from adapters.http.scheduling_schemas import TARIFF_EXAMPLE
from tests.ownership_support import pair
from tests.support import LiveServer

PROBLEM = "application/problem+json"
TARIFF = TARIFF_EXAMPLE
FLAT: dict[str, Any] = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}


def later(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


def test_a_tariff_is_set_read_back_and_recorded(server: LiveServer) -> None:
    server.whitelist("CB-T1")
    pair(server, "CB-T1", "driver@example.com")  # an owner sets the tariff
    with server.http(Role.USER, "driver@example.com") as http:
        put = http.put("/api/v1/chargers/CB-T1/tariff", json=TARIFF)
        assert put.status_code == 200, put.text
        got = http.get("/api/v1/chargers/CB-T1/tariff").json()
    assert got["tariff"]["night"] == TARIFF["night"] and got["tariff"]["exclusions"] == TARIFF["exclusions"]
    assert got["set_by"] == "driver@example.com" and got["version"] == put.json()["version"] == 2
    assert got["_links"]["charger"]["href"] == "/api/v1/chargers/CB-T1"


def test_a_quote_fills_the_cheapest_hour_of_a_followed_series(server: LiveServer) -> None:
    server.whitelist("CB-T2")
    pair(server, "CB-T2", "driver@example.com")
    start = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    series = {
        "currency": "CHF",
        "resolution_minutes": 60,
        "start": start.isoformat(),
        "prices": ["0.30", "0.10", "0.30"],
    }
    with server.http() as operator:
        published = operator.put("/api/v1/price-series/day-ahead", json=series)
        assert published.status_code == 200, published.text
        assert len(published.json()["prices"]) == 12 and published.json()["publications"] == 1
        tariff = operator.put("/api/v1/chargers/CB-T2/tariff", json={**FLAT, "price_series": "day-ahead"})
        assert tariff.status_code == 200, tariff.text
    body = {"energy_kwh": "11.04", "by": (start + timedelta(hours=3)).isoformat()}
    with server.http(Role.USER, "driver@example.com") as http:
        before = server.head()
        quote = http.post("/api/v1/chargers/CB-T2/schedule-quotes", json=body)
        assert server.head() == before  # a quote commits nothing
    assert quote.status_code == 200, quote.text
    answer = quote.json()
    assert answer["feasible"] is True and answer["energy_kwh"] == "11.040" and answer["total_cost"] == "1.10"
    assert answer["charging_rate_unit"] == "A" and answer["limits"]["max_power_w"] == "11040.0"
    starts = [datetime.fromisoformat(i["start"]) for i in answer["intervals"]]
    assert starts[0] == start + timedelta(hours=1) and len(starts) == 4
    assert {i["current_a"] for i in answer["intervals"]} == {"16.0"}


def test_an_infeasible_quote_offers_the_best_alternative(server: LiveServer) -> None:
    server.whitelist("CB-T3")
    with server.http() as http:
        assert http.put("/api/v1/chargers/CB-T3/tariff", json=FLAT).status_code == 200
        answer = http.post(
            "/api/v1/chargers/CB-T3/schedule-quotes", json={"energy_kwh": 60, "by": later(2), "max_power_w": 7000}
        ).json()
        until = http.post("/api/v1/chargers/CB-T3/schedule-quotes", json={"until": later(1), "phases": 1}).json()
        budget = http.post("/api/v1/chargers/CB-T3/schedule-quotes", json={"max_price": "1.50", "by": later(4)}).json()
    assert answer["feasible"] is False and Decimal(answer["energy_kwh"]) == pytest.approx(Decimal(14), abs=0.01)
    assert answer["alternative"]["energy_kwh"] == answer["energy_kwh"]
    earliest = datetime.fromisoformat(answer["alternative"]["earliest_by"]) - datetime.now(UTC)
    assert timedelta(hours=8.4) < earliest < timedelta(hours=8.6)  # 60 kWh at 7 kW
    assert until["feasible"] and Decimal(until["energy_kwh"]) == pytest.approx(Decimal("3.68"), abs=0.01)
    assert budget["feasible"] and budget["total_cost"] == "1.50" and budget["energy_kwh"] == "5.000"


BAD_TARIFFS: list[dict[str, Any]] = [
    {"windows": [{"from": "05:00", "to": "07:00", "price_per_kwh": "0.20"}]},
    {"price_per_kwh": "-0.10"},
    {"time_zone": "Mars/Olympus"},
    {"exclusions": [{"date": "25.12.2026"}]},
    {"price_per_kwh": 0.27},
    {"price_series": "nobody-published-this"},
]


def test_bad_tariffs_are_422_and_write_nothing(server: LiveServer) -> None:
    """Overlapping windows, a negative price, an unknown zone, a date in another format, a float, no such series."""
    server.whitelist("CB-T4")
    with server.http() as http:
        before = server.head()
        for change in BAD_TARIFFS:
            response = http.put("/api/v1/chargers/CB-T4/tariff", json={**TARIFF, **change})
            assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, response.text
            assert response.json()["detail"], change
        assert server.head() == before
        assert http.get("/api/v1/chargers/CB-T4/tariff").status_code == 404


BAD_QUOTES: list[tuple[dict[str, Any], str]] = [
    ({"energy_kwh": 30, "by": "2020-01-01T07:00:00+01:00"}, "past"),
    ({"energy_kwh": 0, "by": later(5)}, "above 0"),
    ({"energy_kwh": -5, "by": later(5)}, "above 0"),
    ({"max_price": "-1", "by": later(5)}, "negative"),
    ({"energy_kwh": 30}, "one of"),
    ({"energy_kwh": 30, "until": later(5)}, "one of"),
    ({"energy_kwh": 30, "by": later(400)}, "days ahead"),
    ({"energy_kwh": 30, "by": later(5), "min_current_a": 20}, "min_current_a"),
    ({"energy_kwh": 30, "by": later(5), "phases": 4}, "phases"),
]


def test_bad_quotes_are_422(server: LiveServer) -> None:
    server.whitelist("CB-T5")
    with server.http() as http:
        assert http.put("/api/v1/chargers/CB-T5/tariff", json=FLAT).status_code == 200
        for body, words in BAD_QUOTES:
            response = http.post("/api/v1/chargers/CB-T5/schedule-quotes", json=body)
            assert response.status_code == 422 and response.headers["content-type"] == PROBLEM, body
            assert words in response.text, (body, response.text)


def test_who_may_read_set_quote_and_publish(server: LiveServer) -> None:
    server.whitelist("CB-T6")
    pair(server, "CB-T6", "user@example.com")
    quote = {"energy_kwh": 5, "by": later(3)}
    with server.http(Role.MANUFACTURER) as line, server.http(Role.USER) as user, server.http() as operator:
        assert line.put("/api/v1/chargers/CB-T6/tariff", json=FLAT).status_code == 403
        assert line.get("/api/v1/chargers/CB-T6/tariff").status_code == 404  # reads the charger: no tariff yet
        assert line.post("/api/v1/chargers/CB-T6/schedule-quotes", json=quote).status_code == 403
        assert user.post("/api/v1/chargers/CB-T6/schedule-quotes", json=quote).status_code == 404  # no tariff yet
        assert user.put("/api/v1/chargers/NOPE/tariff", json=FLAT).status_code == 404
        assert user.post("/api/v1/chargers/NOPE/schedule-quotes", json=quote).status_code == 404
        series = {"currency": "CHF", "resolution_minutes": 15, "start": "2026-12-02T00:00:00Z", "prices": ["0.1"]}
        assert user.put("/api/v1/price-series/s1", json=series).status_code == 403
        assert user.get("/api/v1/price-series/s1").status_code == 404
        assert operator.put("/api/v1/price-series/s1", json=series).status_code == 200
        assert operator.put("/api/v1/price-series/s1", json={**series, "currency": "EUR"}).status_code == 422
        assert operator.put("/api/v1/price-series/bad%20name", json=series).status_code == 422
        assert user.get("/api/v1/price-series/s1").json()["prices"] == [
            {"start": "2026-12-02T00:00:00Z", "price_per_kwh": "0.1"}
        ]
