"""ETag and If-Match over real HTTP, on SQLite and PostgreSQL: a stale version is refused with 412 and nothing
is written; a malformed If-Match is 400; the check is atomic with the write (two racing PUTs: one wins)."""

from __future__ import annotations

import threading

import httpx
import pytest

from adapters.http.etag import parse_if_match
from adapters.http.problems import Problem
from tests.support import LiveServer

PROBLEM = "application/problem+json"
SETTINGS = "/api/v1/chargers/CB-E1/settings"


def charger_events(server: LiveServer, station_id: str) -> int:
    return len(list(server.platform.chargers.history(station_id)))


def test_parse_if_match() -> None:
    assert parse_if_match("*") is None
    assert parse_if_match('"3"') == {3}
    assert parse_if_match(' "3" , "5",W/"6", "x,y"') == {3, 5}  # weak tags and non-versions never match
    assert parse_if_match('"abc"') == frozenset()
    for malformed in ("3", '"3', "", " ", '"3" "4"', '"3",', "W/3", '"3";', "**", '"\x7f"'):
        with pytest.raises(Problem) as refused:
            parse_if_match(malformed)
        assert refused.value.status == 400


def test_a_charger_answers_its_version_as_etag_and_a_stale_if_match_is_refused(server: LiveServer) -> None:
    server.whitelist("CB-E1")
    server.settle()
    with server.http() as http:
        got = http.get("/api/v1/chargers/CB-E1")
        version = got.json()["version"]
        assert got.headers["etag"] == f'"{version}"' == f'"{server.platform.chargers.get("CB-E1").version}"'

        before = charger_events(server, "CB-E1")
        stale = http.put(SETTINGS, json={"rfid_required": False}, headers={"If-Match": f'"{version + 1}"'})
        assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
        assert stale.json()["status"] == 412 and stale.headers["etag"] == f'"{version}"'
        assert charger_events(server, "CB-E1") == before and server.platform.chargers.get("CB-E1").rfid_required

        changed = http.put(SETTINGS, json={"rfid_required": False}, headers={"If-Match": f'"{version}"'})
        assert changed.status_code == 200 and changed.json()["rfid_required"] is False
        assert changed.headers["etag"] == f'"{version + 1}"' and changed.json()["version"] == version + 1

        again = http.put(SETTINGS, json={"rfid_required": True}, headers={"If-Match": f'"{version}"'})
        assert again.status_code == 412  # the second dashboard saw the old version: it may not overwrite
        assert server.platform.chargers.get("CB-E1").rfid_required is False

        weak = http.put(SETTINGS, json={"rfid_required": True}, headers={"If-Match": f'W/"{version + 1}"'})
        assert weak.status_code == 412  # If-Match compares strongly
        listed = http.put(SETTINGS, json={"rfid_required": True}, headers={"If-Match": f'"1", "{version + 1}"'})
        assert listed.status_code == 200 and listed.headers["etag"] == f'"{version + 2}"'
        anything = http.put(SETTINGS, json={"rfid_required": False}, headers={"If-Match": "*"})
        assert anything.status_code == 200
        unconditional = http.put(SETTINGS, json={"rfid_required": True})
        assert unconditional.status_code == 200 and unconditional.headers["etag"] == f'"{version + 4}"'


@pytest.mark.parametrize("value", ["3", '"3', "", '"3" "4"', "W/3"])
def test_a_malformed_if_match_is_400_and_nothing_is_written(server: LiveServer, value: str) -> None:
    server.whitelist("CB-E1")
    before = charger_events(server, "CB-E1")
    with server.http() as http:
        refused = http.put(SETTINGS, json={"rfid_required": False}, headers={"If-Match": value})
        assert refused.status_code == 400 and refused.headers["content-type"] == PROBLEM
        assert "If-Match" in refused.json()["detail"]
        card = http.post("/api/v1/rfid-cards", json={"id_token": "CARD-E0"})
        assert http.post("/api/v1/rfid-cards/CARD-E0/block", headers={"If-Match": value}).status_code == 400
        assert http.delete("/api/v1/rfid-cards/CARD-E0", headers={"If-Match": value}).status_code == 400
        assert http.get("/api/v1/rfid-cards/CARD-E0").headers["etag"] == card.headers["etag"]
    assert charger_events(server, "CB-E1") == before


def test_an_unknown_charger_is_404_whatever_if_match_says(server: LiveServer) -> None:
    with server.http() as http:
        for value in ("*", '"1"'):
            missing = http.put(
                "/api/v1/chargers/NOPE/settings", json={"rfid_required": True}, headers={"If-Match": value}
            )
            assert missing.status_code == 404


def test_cards_answer_etags_and_refuse_stale_changes(server: LiveServer) -> None:
    with server.http() as http:
        created = http.post("/api/v1/rfid-cards", json={"id_token": "CARD-E1"})
        assert created.status_code == 201
        tag = created.headers["etag"]
        assert http.get("/api/v1/rfid-cards/CARD-E1").headers["etag"] == tag

        blocked = http.post("/api/v1/rfid-cards/CARD-E1/block", headers={"If-Match": tag})
        assert blocked.status_code == 200 and blocked.json()["status"] == "blocked"
        assert blocked.headers["etag"] != tag
        stale = http.post("/api/v1/rfid-cards/CARD-E1/unblock", headers={"If-Match": tag})
        assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
        assert stale.headers["etag"] == blocked.headers["etag"]
        assert http.get("/api/v1/rfid-cards/CARD-E1").json()["status"] == "blocked"

        assert http.delete("/api/v1/rfid-cards/CARD-E1", headers={"If-Match": tag}).status_code == 412
        assert http.get("/api/v1/rfid-cards/CARD-E1").json()["status"] == "blocked"
        removed = http.delete("/api/v1/rfid-cards/CARD-E1", headers={"If-Match": blocked.headers["etag"]})
        assert removed.status_code == 204
        assert http.get("/api/v1/rfid-cards/CARD-E1").json()["status"] == "removed"


def racing_put(
    http: httpx.Client, required: bool, headers: dict[str, str], barrier: threading.Barrier, statuses: list[int]
) -> None:
    barrier.wait()
    statuses.append(http.put(SETTINGS, json={"rfid_required": required}, headers=headers).status_code)


def test_two_racing_conditional_puts_one_wins(server: LiveServer) -> None:
    """Both send the version they read; the check runs inside the service's load → command → save, so the loser
    reloads after its lost race and is refused, instead of overwriting the winner."""
    server.whitelist("CB-E1")
    first = server.platform.chargers.get("CB-E1").version
    clients = [server.http(), server.http()]
    for round_ in range(3):
        required = round_ % 2 == 1  # a change each round (rfid_required starts true)
        headers = {"If-Match": f'"{first + round_}"'}
        barrier = threading.Barrier(2, timeout=10)
        statuses: list[int] = []
        race = (required, headers, barrier, statuses)
        threads = [threading.Thread(target=racing_put, args=(http, *race)) for http in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
        assert sorted(statuses) == [200, 412], statuses
    for http in clients:
        http.close()
    assert server.platform.chargers.get("CB-E1").version == first + 3  # one write per round, no lost update


def test_every_etag_route_is_documented_with_if_match(server: LiveServer) -> None:
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    conditional = {
        ("put", "/api/v1/chargers/{station_id}/settings"),
        ("delete", "/api/v1/rfid-cards/{value}"),
        ("post", "/api/v1/rfid-cards/{value}/block"),
        ("post", "/api/v1/rfid-cards/{value}/unblock"),
    }
    for method, path in conditional:
        operation = spec["paths"][path][method]
        assert "If-Match" in {p["name"] for p in operation["parameters"]}
        assert {"400", "412"} <= set(operation["responses"])
        assert "ETag" in next(a for s, a in operation["responses"].items() if s.startswith("2")).get("headers", {})
