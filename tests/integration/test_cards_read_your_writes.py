"""REST card writes are read-your-writes: the card list read right after a write shows it."""

from __future__ import annotations

from adapters.auth import Role
from tests.support import LiveServer

USER = "driver@example.com"


def test_the_card_list_shows_every_write_at_once(server: LiveServer) -> None:
    with server.http(role=Role.USER, email=USER) as http:
        assert http.post("/api/v1/rfid-cards", json={"id_token": "RYW-1"}).status_code == 201
        seen = [[c["status"] for c in http.get("/api/v1/rfid-cards").json()["items"]]]
        for action in ("block", "unblock") * 5:
            assert http.post(f"/api/v1/rfid-cards/RYW-1/{action}").status_code == 200
            seen.append([c["status"] for c in http.get("/api/v1/rfid-cards").json()["items"]])
        assert http.delete("/api/v1/rfid-cards/RYW-1").status_code == 204
        seen.append([c["status"] for c in http.get("/api/v1/rfid-cards").json()["items"]])
    assert seen == [["active"]] + [["blocked"], ["active"]] * 5 + [[]]  # a removed card is not listed
