"""Hostile REST input over real HTTP (issue 9, items 2, 7 and 9): every one is a 4xx problem, never a 500."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.support import LiveServer, station

PROBLEM = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/chargers?limit=%C2%B2",
        "/api/v1/transactions?limit=%C2%B2",
        "/api/v1/transactions?from=9999-12-31T23:59:59-01:00",
        "/api/v1/transactions?to=0001-01-01T00:00:00%2B01:00",
        "/api/v1/chargers?status=bogus",
        "/api/v1/chargers?after=%00",
        "/api/v1/chargers?family=a%00b",
        "/api/v1/transactions?charger=%00",
        "/api/v1/transactions?user=a%01b",
        "/api/v1/transactions?after=%00",
        "/api/v1/rfid-cards?after=%00",
        "/api/v1/users?after=%00",
        "/api/v1/chargers/A%00B",
        "/api/v1/chargers/A%00B/events",
    ],
)
def test_bad_query_parameters_are_400(shared_server: LiveServer, path: str) -> None:
    with shared_server.http() as http:
        assert_problem(http.get(path), 400)


def test_a_deeply_nested_body_is_400_and_writes_nothing(server: LiveServer) -> None:
    with server.http() as http:
        before = server.head()
        body = b"[" * 100_000 + b"]" * 100_000
        response = http.post("/api/v1/chargers", content=body, headers={"content-type": "application/json"})
        assert_problem(response, 400)
        assert server.head() == before


def test_non_ascii_serial_numbers_and_card_values_are_created(server: LiveServer) -> None:
    with server.http() as http:
        created = http.post("/api/v1/chargers", json={"serial_number": "Ω≈ç√"})
        assert created.status_code == 201, created.text
        assert http.get(created.headers["location"]).status_code == 200
        card = http.post("/api/v1/rfid-cards", json={"id_token": "☃☃", "user": "operator@example.com"})
        assert card.status_code == 201, card.text
        assert http.get(card.headers["location"]).status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"serial_number": "CB\u00001"},
        {"serial_number": "CB-1", "hardware_family": "a\u0000b"},
        {"serial_number": "CB-1", "hardware_family": "a\u0085b"},
    ],
)
def test_control_characters_in_charger_bodies_are_422(shared_server: LiveServer, body: dict[str, str]) -> None:
    with shared_server.http() as http:
        before = shared_server.head()
        assert_problem(http.post("/api/v1/chargers", json=body), 422)
        assert shared_server.head() == before


def test_a_card_label_with_nul_is_422_and_the_read_model_stays_ready(server: LiveServer) -> None:
    with server.http() as http:
        body = {"id_token": "AA11", "user": "operator@example.com", "label": "x\u0000y"}
        assert_problem(http.post("/api/v1/rfid-cards", json=body), 422)
        ok = http.post("/api/v1/rfid-cards", json={**body, "label": "fine"})
        assert ok.status_code == 201, ok.text
        server.settle()
        assert http.get("/readyz").status_code == 200


def test_the_audit_trail_is_paged_by_version(server: LiveServer) -> None:
    server.whitelist("CB-PAGE")

    async def boot() -> None:
        async with station(server, "CB-PAGE") as cp:
            await cp.boot()

    asyncio.run(boot())
    with server.http() as http:
        everything = http.get("/api/v1/chargers/CB-PAGE/events?limit=200").json()["items"]
        assert len(everything) >= 3
        seen, href = [], "/api/v1/chargers/CB-PAGE/events?limit=1"
        while href:
            page = http.get(href).json()
            assert len(page["items"]) == 1
            seen += [e["version"] for e in page["items"]]
            href = page["_links"].get("next", {}).get("href")
        assert seen == [e["version"] for e in everything]
        assert_problem(http.get("/api/v1/chargers/CB-PAGE/events?after=x"), 400)
        assert_problem(http.get("/api/v1/chargers/CB-PAGE/events?after=%C2%B2"), 400)
