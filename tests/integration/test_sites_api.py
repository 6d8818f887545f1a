"""Sites, circuits and chargers assigned to them over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from adapters.auth import Role
from tests.ownership_support import pair
from tests.support import LiveServer

PROBLEM = "application/problem+json"
SITE = {"name": "Garage", "max_current_a": 63, "max_power_w": 40000}


def refused(answer: Any, status: int, words: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM) and words in answer.json()["detail"], answer.text


def test_an_operator_builds_a_site_tree_and_assigns_chargers(server: LiveServer) -> None:
    for station in ("CB-S1", "CB-S2"):
        server.whitelist(station)
    with server.http() as http:
        created = http.post("/api/v1/sites", json=SITE)
        assert created.status_code == 201, created.text
        site = created.json()["site_id"]
        assert created.headers["location"] == f"/api/v1/sites/{site}"
        circuit = http.post("/api/v1/sites", json={"name": "Row A", "parent": site, "max_current_a": 32}).json()
        assert circuit["site"] == site and circuit["parent"] == site
        put = http.put(f"/api/v1/sites/{circuit['site_id']}/chargers/CB-S1", json={"priority": 1})
        assert put.status_code == 200, put.text
        assert put.json()["chargers"][0]["station_id"] == "CB-S1"
        assert http.put(f"/api/v1/sites/{site}/chargers/CB-S2", json={}).status_code == 200
        moved = http.put(f"/api/v1/sites/{site}/chargers/CB-S1", json={"min_current_a": 8})  # moves it
        assert moved.status_code == 200
        tree = http.get(f"/api/v1/sites/{site}").json()
        assert [c["station_id"] for c in tree["chargers"]] == ["CB-S1", "CB-S2"]
        assert tree["circuits"][0]["name"] == "Row A" and tree["circuits"][0]["chargers"] == []
        assert tree["chargers"][0]["min_current_a"] == "8" and tree["chargers"][0]["limit_a"] is None  # offline
        patched = http.patch(f"/api/v1/sites/{site}", json={"name": "Parking", "max_current_a": 40})
        assert patched.status_code == 200 and patched.json()["max_current_a"] == "40"
        refused(http.delete(f"/api/v1/sites/{site}"), 409, "circuits under it")
        assert http.delete(f"/api/v1/sites/{site}/chargers/CB-S2").status_code == 204
        assert http.delete(f"/api/v1/sites/{circuit['site_id']}").status_code == 204
        listed = http.get("/api/v1/sites").json()["sites"]
        assert [(s["name"], s["circuits"], len(s["chargers"])) for s in listed] == [("Parking", [], 1)]
        assert http.delete(f"/api/v1/sites/{site}").status_code == 204
        assert http.get(f"/api/v1/sites/{site}").status_code == 404


def test_bad_sites_are_refused_with_a_reason(server: LiveServer) -> None:
    for n in range(4):
        server.whitelist(f"CB-B{n}")
    with server.http() as http:
        refused(http.post("/api/v1/sites", json={**SITE, "max_current_a": 0}), 422, "above 0")
        refused(http.post("/api/v1/sites", json={**SITE, "max_power_w": -5}), 422, "above 0")
        refused(http.post("/api/v1/sites", json={"name": "Nothing"}), 422, "max_current_a, max_power_w")
        refused(http.post("/api/v1/sites", json={**SITE, "parent": "nope"}), 422, "parent nope")
        site = http.post("/api/v1/sites", json={"name": "Small", "max_current_a": 16}).json()["site_id"]
        sub = http.post("/api/v1/sites", json={"name": "Sub", "parent": site, "max_current_a": 16}).json()["site_id"]
        refused(http.patch(f"/api/v1/sites/{site}", json={"parent": sub}), 422, "under itself")
        assert http.put(f"/api/v1/sites/{sub}/chargers/CB-B0", json={"min_current_a": 6}).status_code == 200
        assert http.put(f"/api/v1/sites/{site}/chargers/CB-B1", json={"min_current_a": 6}).status_code == 200
        refused(http.put(f"/api/v1/sites/{site}/chargers/CB-B2", json={}), 422, "below the sum of the minimum")
        refused(http.patch(f"/api/v1/sites/{site}", json={"max_current_a": 10}), 422, "below the sum")
        refused(
            http.put(f"/api/v1/sites/{site}/chargers/CB-B3", json={"min_current_a": 20, "max_current_a": 16}),
            422,
            "min_current_a",
        )
        refused(http.put("/api/v1/sites/nope/chargers/CB-B3", json={}), 404, "no site or circuit nope")
        tree = http.get(f"/api/v1/sites/{site}").json()
    assert [c["station_id"] for c in tree["chargers"]] == ["CB-B1"]  # nothing refused was recorded


def test_an_owner_assigns_only_their_own_chargers_to_their_own_sites(server: LiveServer) -> None:
    for station in ("CB-O1", "CB-O2"):
        server.whitelist(station)
    pair(server, "CB-O1", "owner@example.com")
    pair(server, "CB-O2", "other@example.com")
    with server.http(Role.USER, "owner@example.com") as owner:
        site = owner.post("/api/v1/sites", json=SITE).json()["site_id"]
        assert owner.put(f"/api/v1/sites/{site}/chargers/CB-O1", json={}).status_code == 200
        refused(owner.put(f"/api/v1/sites/{site}/chargers/CB-O2", json={}), 404, "no charger CB-O2")
        assert [s["site_id"] for s in owner.get("/api/v1/sites").json()["sites"]] == [site]
    with server.http(Role.USER, "other@example.com") as other:
        refused(other.get(f"/api/v1/sites/{site}"), 404, f"no site or circuit {site}")
        refused(other.put(f"/api/v1/sites/{site}/chargers/CB-O2", json={}), 404, f"no site or circuit {site}")
        refused(other.post("/api/v1/sites", json={**SITE, "parent": site}), 422, f"parent {site}")
        assert other.get("/api/v1/sites").json()["sites"] == []
    with server.http() as operator:
        assert [s["site_id"] for s in operator.get("/api/v1/sites").json()["sites"]] == [site]
