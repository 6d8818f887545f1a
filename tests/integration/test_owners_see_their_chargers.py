"""Every owner sees the charger live: its transactions, energy, live feed and status for its owner and
co-owners; a guest only their own transactions there; a stranger nothing (404), nor an owner of another
charger asking for this one by id."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.auth import Role
from cloudbay_domain.id_token import TokenKind
from tests.integration.test_history_api import report
from tests.ownership_support import pair
from tests.support import LiveServer

OWNER, CO, GUEST, OTHER = "owner@example.com", "co@example.com", "guest@example.com", "other@example.com"


def setup(server: LiveServer) -> None:
    server.whitelist("CB-V1")
    server.whitelist("CB-V2")
    pair(server, "CB-V1", OWNER, co_owners=[CO], guests=[GUEST])
    pair(server, "CB-V2", OTHER)  # the owner of another charger
    for value, user in (("V-OWNER", OWNER), ("V-GUEST", GUEST), ("V-OTHER", OTHER)):
        server.platform.id_tokens.register(value, "ISO14443", user, TokenKind.RFID)
    report(server, "CB-V1", "T-OWNER", 0, "2026-11-25T09:00:00Z", 0, token="V-OWNER")
    report(server, "CB-V1", "T-GUEST", 0, "2026-11-25T10:00:00Z", 0, token="V-GUEST")
    report(server, "CB-V2", "T-OTHER", 0, "2026-11-25T11:00:00Z", 0, token="V-OTHER")
    for email in (OWNER, CO, GUEST, OTHER):
        server.token(email, Role.USER)  # their accounts
    server.settle()


def seen(server: LiveServer, email: str, path: str) -> Any:
    with server.http(Role.USER, email=email) as http:
        return http.get(path)


def listed(server: LiveServer, email: str, query: str = "") -> list[str]:
    response = seen(server, email, f"/api/v1/transactions{query}")
    assert response.status_code == 200, response.text
    return sorted(t["transaction_id"] for t in response.json()["items"])


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_owners_and_co_owners_see_everything_on_their_charger_a_guest_only_their_own(server: LiveServer) -> None:
    setup(server)
    assert listed(server, OWNER) == listed(server, CO) == ["T-GUEST", "T-OWNER"]
    assert listed(server, OWNER, f"?user={GUEST}") == ["T-GUEST"]  # an owner may filter by a guest
    assert listed(server, GUEST) == ["T-GUEST"]
    assert listed(server, OTHER) == ["T-OTHER"]
    assert seen(server, CO, "/api/v1/chargers/CB-V1/transactions/T-GUEST").json()["user"] == GUEST
    assert seen(server, GUEST, "/api/v1/chargers/CB-V1/transactions/T-OWNER").status_code == 404
    for email in (OWNER, CO, GUEST):
        assert seen(server, email, "/api/v1/chargers/CB-V1").status_code == 200  # the status
    assert seen(server, OWNER, "/api/v1/chargers/CB-V1/energy").status_code == 200
    assert seen(server, CO, "/api/v1/chargers/CB-V1/energy").status_code == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_an_owner_of_another_charger_asking_by_id_is_told_it_does_not_exist(server: LiveServer) -> None:
    setup(server)
    before = server.head()
    for path in (
        "/api/v1/chargers/CB-V1",
        "/api/v1/chargers/CB-V1/energy",
        "/api/v1/chargers/CB-V1/transactions/T-OWNER",
    ):
        mine, unknown = seen(server, OTHER, path), seen(server, OTHER, path.replace("CB-V1", "CB-NONE"))
        assert mine.status_code == unknown.status_code == 404, path
        assert mine.json()["detail"].replace("CB-V1", "X") == unknown.json()["detail"].replace("CB-NONE", "X")
    with server.http(Role.USER, email=OTHER) as http:
        assert http.post("/api/v1/chargers/CB-V1/transactions", json={}).status_code == 404
        assert http.put("/api/v1/chargers/CB-V1/settings", json={"rfid_required": False}).status_code == 404
    assert listed(server, OTHER, "?charger=CB-V1") == []
    assert server.head() == before


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_guest_calling_the_owners_routes_is_refused(server: LiveServer) -> None:
    setup(server)
    before = server.head()
    with server.http(Role.USER, email=GUEST) as http:
        for response in (
            http.get("/api/v1/chargers/CB-V1/energy"),
            http.put("/api/v1/chargers/CB-V1/settings", json={"rfid_required": False}),
            http.get("/api/v1/chargers/CB-V1/events"),
            http.post("/api/v1/chargers/CB-V1/transactions/T-OWNER/stop"),
        ):
            assert response.status_code in (403, 404), response.text
            assert response.headers["content-type"] == "application/problem+json"
        assert http.get("/api/v1/chargers/CB-V1/energy").json()["detail"].startswith("a guest may not")
    assert server.head() == before


async def live(server: LiveServer, email: str, seq_no: int = 1) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {server.token(email, Role.USER)}"}
    async with connect(f"ws://127.0.0.1:{server.port}/api/v1/live?charger=CB-V1", additional_headers=headers) as ws:
        snapshot: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        await asyncio.to_thread(
            report, server, "CB-V1", "T-OWNER", seq_no, f"2026-11-25T12:0{seq_no}:00Z", 1200 + seq_no
        )
        snapshot["next"] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        return snapshot


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_live_feed_follows_the_same_matrix(server: LiveServer) -> None:
    setup(server)
    for seq_no, email in enumerate((OWNER, CO), start=1):
        snapshot = asyncio.run(live(server, email, seq_no))
        assert sorted(t["transaction_id"] for t in snapshot["transactions"]) == ["T-GUEST", "T-OWNER"]
        assert snapshot["next"]["transaction_id"] == "T-OWNER"
    with pytest.raises(InvalidStatus) as refused:
        asyncio.run(live(server, OTHER))
    assert refused.value.response.status_code == 404
