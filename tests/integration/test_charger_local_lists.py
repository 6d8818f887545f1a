"""Each charger's own local list: its owners' and co-owners' cards only, changed by Differential updates as
members come and go and cards are registered or blocked; a charger that was offline gets its list at its boot."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.auth import Role
from tests.ownership_support import pair, remove_member
from tests.support import LiveServer, Station, station

ALICE, BOB = "alice@example.com", "bob@example.com"


def lists(cp: Station) -> list[dict[str, Any]]:
    return [p for a, p in cp.received if a == "SendLocalList"]


def entries(sent: dict[str, Any]) -> dict[str, str | None]:
    """A SendLocalList's entries: id token -> status (None: removed)."""
    return {
        e["id_token"]["id_token"]: (e.get("id_token_info") or {}).get("status")
        for e in sent.get("local_authorization_list") or []
    }


async def until_version(cp: Station, version: int, server: LiveServer | None = None) -> None:
    """Until the charger holds list ``version`` (and, given ``server``, the platform has recorded its answer)."""
    for _ in range(250):
        if cp.local_list_version == version and (
            server is None or server.platform.chargers.get(cp.id).local_list_version == version
        ):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{cp.id} holds list version {cp.local_list_version}, not {version}")


def card(server: LiveServer, email: str, value: str) -> None:
    with server.http(Role.USER, email=email) as http:
        assert http.post("/api/v1/rfid-cards", json={"id_token": value}).status_code == 201


def block(server: LiveServer, email: str, value: str) -> None:
    with server.http(Role.USER, email=email) as http:
        assert http.post(f"/api/v1/rfid-cards/{value}/block").status_code == 200


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_cards_reach_the_chargers_of_their_user_only_and_follow_every_change(server: LiveServer) -> None:
    for station_id in ("CB-M1", "CB-M2", "CB-M3"):
        server.whitelist(station_id)
    pair(server, "CB-M1", ALICE)
    pair(server, "CB-M2", BOB)
    card(server, ALICE, "A-1")
    card(server, BOB, "B-1")

    async def scenario() -> tuple[Station, Station, Station]:
        async with station(server, "CB-M1") as one, station(server, "CB-M2") as two, station(server, "CB-M3") as three:
            for cp in (one, two, three):
                await cp.boot()
            await until_version(one, 1)
            await until_version(two, 1)
            await asyncio.to_thread(pair, server, "CB-M2", BOB, co_owners=[ALICE])  # an accepted invitation
            await until_version(two, 2)
            await asyncio.to_thread(block, server, ALICE, "A-1")  # a blocked card: both of Alice's chargers
            await until_version(one, 2)
            await until_version(two, 3)
            await asyncio.to_thread(remove_member, server, "CB-M2", ALICE)  # a revoked member
            await until_version(two, 4)
            await asyncio.sleep(0.1)
            return one, two, three

    one, two, three = asyncio.run(scenario())
    assert [(s["update_type"], entries(s)) for s in lists(one)] == [
        ("Full", {"A-1": "Accepted"}),
        ("Differential", {"A-1": "Blocked"}),
    ]
    assert [(s["update_type"], entries(s)) for s in lists(two)] == [
        ("Full", {"B-1": "Accepted"}),
        ("Differential", {"A-1": "Accepted"}),
        ("Differential", {"A-1": "Blocked"}),
        ("Differential", {"A-1": None}),  # removed from the list
    ]
    assert lists(three) == []  # nobody owns it: no card of anyone's
    assert server.platform.chargers.get("CB-M2").local_list_entries == {
        "B-1": {"type": "ISO14443", "status": "Accepted"}
    }


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_charger_offline_at_a_change_gets_its_list_when_it_is_back(server: LiveServer) -> None:
    server.whitelist("CB-M4")
    pair(server, "CB-M4", ALICE)

    async def scenario() -> tuple[Station, Station]:
        async with station(server, "CB-M4") as first:
            await first.boot()
            await asyncio.sleep(0.2)  # nothing to send: no cards yet
        await asyncio.to_thread(card, server, ALICE, "A-4")  # while it is offline
        async with station(server, "CB-M4", local_list_version=0) as back:
            await back.boot()
            await until_version(back, 1, server)  # and the platform knows it holds version 1
        await asyncio.to_thread(card, server, ALICE, "A-5")  # offline again
        async with station(server, "CB-M4", local_list_version=1) as again:
            await again.boot()
            await until_version(again, 2)
        return back, again

    back, again = asyncio.run(scenario())
    assert [(s["update_type"], entries(s)) for s in lists(back)] == [("Full", {"A-4": "Accepted"})]
    # it holds the version the platform knows it holds: only the change is sent
    assert [(s["update_type"], entries(s)) for s in lists(again)] == [("Differential", {"A-5": "Accepted"})]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_charger_that_lost_its_list_gets_it_whole(server: LiveServer) -> None:
    server.whitelist("CB-M5")
    pair(server, "CB-M5", ALICE)
    card(server, ALICE, "A-6")

    async def scenario() -> Station:
        async with station(server, "CB-M5") as cp:
            await cp.boot()
            await until_version(cp, 1, server)  # and the platform knows it holds version 1
        async with station(server, "CB-M5", local_list_version=0) as reset:  # a factory reset lost the list
            await reset.boot()
            await until_version(reset, 2)
            return reset

    reset = asyncio.run(scenario())
    assert [(s["update_type"], s["version_number"], entries(s)) for s in lists(reset)] == [
        ("Full", 2, {"A-6": "Accepted"})
    ]
