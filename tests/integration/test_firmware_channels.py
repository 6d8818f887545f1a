"""Firmware channels over real HTTP, on SQLite and PostgreSQL: one charger at a time and by filter, and campaigns
that target a channel reach exactly its chargers."""

from __future__ import annotations

from typing import Any

from adapters.auth import Role
from cloudbay_domain.firmware_channel import ChannelMembership
from tests.support import LiveServer

ROLLOUTS = "/api/v1/rollouts"
IMAGE = {"version": "2.5.0", "location": "https://firmware.example.com/home-22kw/2.5.0.bin"}


def campaign(http: Any, channel: str, filter: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"family": "home-22kw", "channel": channel, "image": IMAGE}
    if filter:
        body["filter"] = filter
    created = http.post(ROLLOUTS, json=body)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_one_charger_then_a_filter_then_campaigns_by_channel(server: LiveServer) -> None:
    for n in range(5):
        server.whitelist(f"CH-{n}", "home-22kw")
    server.whitelist("CH-OTHER", "home-11kw")
    server.settle()
    with server.http() as http:
        href = "/api/v1/chargers/CH-0/firmware-channel"
        assert http.get(href).json()["channel"] == "stable"
        put = http.put(href, json={"family": "home-22kw", "channel": "canary"})
        assert put.status_code == 200, put.text
        assert (put.json()["channel"], put.json()["assigned_by"]) == ("canary", "operator@example.com")
        assert http.get(href).json()["channel"] == "canary"
        by_ids = {"filter": {"station_ids": ["CH-1", "CH-2", "CH-OTHER"]}}
        assigned = http.post("/api/v1/firmware-channels/beta/assignments", json=by_ids)
        assert assigned.status_code == 201, assigned.text
        assert (assigned.json()["matched"], assigned.json()["moved"]) == (3, 3)
        again = http.post("/api/v1/firmware-channels/beta/assignments", json=by_ids).json()
        assert (again["matched"], again["moved"]) == (3, 0)  # already there: nothing written
        server.settle()
        assert campaign(http, "canary")["targets"] == 1
        assert campaign(http, "beta")["targets"] == 2  # CH-OTHER is on beta of its own family
        assert campaign(http, "stable")["targets"] == 2
        # the 11 kW charger followed beta of home-11kw; moving it to the 22 kW family makes it a target there
        family = {"family": "home-22kw", "filter": {"hardware_family": "home-11kw"}}
        assert http.post("/api/v1/firmware-channels/nightly/assignments", json=family).json()["matched"] == 1
        server.settle()
        assert campaign(http, "nightly")["targets"] == 1
    membership = server.platform.firmware_channels.membership("CH-OTHER")
    assert membership is not None and (membership.family, membership.channel) == ("home-22kw", "nightly")
    assert ChannelMembership.create_id("CH-OTHER") == membership.id


def test_assignment_by_production_batch_model_and_vendor(server: LiveServer) -> None:
    for n in range(3):
        server.whitelist(f"BV-{n}", "home-22kw")
    server.settle()
    with server.runtime.db.transaction() as tx:  # type: ignore[union-attr]
        tx.execute("UPDATE rm_chargers SET batch_id = 'B-7', model = 'CB-Home', vendor = 'CloudBay'"
                   " WHERE station_id IN ('BV-0', 'BV-1')")  # fmt: skip
    with server.http() as http:
        for filter, matched in (({"batch_id": "B-7"}, 2), ({"model": "CB-Home", "vendor": "CloudBay"}, 2),
                                ({"batch_id": "B-8"}, 0)):  # fmt: skip
            answer = http.post("/api/v1/firmware-channels/beta/assignments", json={"filter": filter})
            assert answer.status_code == 201 and answer.json()["matched"] == matched, answer.text
        server.settle()
        assert campaign(http, "beta", {"batch_id": "B-7"})["targets"] == 2
        assert campaign(http, "stable", {"vendor": "CloudBay"})["targets"] == 0  # both are on beta now
        assert campaign(http, "stable", {"station_ids": ["BV-2", "BV-9"]})["targets"] == 1


def test_bad_requests_and_callers_who_may_not(server: LiveServer) -> None:
    server.whitelist("CH-X", "home-22kw")
    with server.http() as http:
        href = "/api/v1/chargers/CH-X/firmware-channel"
        assert http.put(href, json={"family": "home-22kw"}).status_code == 422
        assert http.put(href, json={"family": "home-22kw", "channel": "b\x01"}).status_code == 422
        assert (
            http.put("/api/v1/chargers/NOPE/firmware-channel", json={"family": "f", "channel": "c"}).status_code == 404
        )
        empty = http.post("/api/v1/firmware-channels/beta/assignments", json={"filter": {}})
        assert empty.status_code == 422 and "at least one" in empty.json()["detail"]
        unknown = http.post("/api/v1/firmware-channels/beta/assignments", json={"filter": {"colour": "red"}})
        assert unknown.status_code == 422
    with server.http(Role.USER) as user:
        assert user.put(href, json={"family": "home-22kw", "channel": "beta"}).status_code in (403, 404)
        assert (
            user.post("/api/v1/firmware-channels/beta/assignments", json={"filter": {"batch_id": "B"}}).status_code
            == 403
        )
