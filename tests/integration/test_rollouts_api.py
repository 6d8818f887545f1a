"""The rollout routes over real HTTP, on SQLite and PostgreSQL: an operator creates and plans a campaign, reads
its progress and steers it; everyone else is refused, and every bad request gets its problem."""

from __future__ import annotations

from typing import Any

from adapters.auth import Role
from tests.support import LiveServer

ROLLOUTS = "/api/v1/rollouts"
BODY: dict[str, Any] = {
    "family": "home-22kw",
    "channel": "stable",
    "image": {"version": "2.5.0", "location": "https://firmware.example.com/home-22kw/2.5.0.bin"},
    "policy": {"groups": [50, 100], "max_concurrent": 5, "windows": [{"start": "22:00", "end": "06:00"}]},
}


def test_an_operator_creates_reads_and_steers_a_campaign(server: LiveServer) -> None:
    for n in range(6):
        server.whitelist(f"RO-{n}", "home-22kw")
    server.whitelist("OTHER-1", "home-11kw")
    server.settle()
    with server.http() as http:
        manual = {**BODY, "policy": {**BODY["policy"], "automatic_promotion": False}}  # an empty group promotes
        created = http.post(ROLLOUTS, json=manual)
        assert created.status_code == 201, created.text
        campaign = created.json()
        assert campaign["state"] == "draft" and campaign["targets"] == 6 and campaign["excluded"] == 0
        assert created.headers["location"] == campaign["_links"]["self"]["href"]
        assert sum(g["size"] for g in campaign["groups"]) == 6
        href = campaign["_links"]["self"]["href"]
        server.settle()
        read = http.get(href).json()
        assert read["groups"][0]["stages"]["pending"] + read["groups"][1]["stages"]["pending"] == 6
        assert http.post(href + "/start").json()["state"] == "running"
        assert http.post(href + "/pause", json={}).json()["state"] == "paused"
        again = http.post(href + "/pause")
        assert again.status_code == 409 and "paused" in again.json()["detail"]
        assert http.post(href + "/resume").json()["open_groups"] == 1
        assert http.post(href + "/promote").json()["open_groups"] == 2
        aborted = http.post(href + "/abort", json={"reason": "a bad image"}).json()
        assert (aborted["state"], aborted["reason"]) == ("aborted", "a bad image")
        assert http.post(href + "/rollback").status_code == 409


def test_approval_when_required(server: LiveServer) -> None:
    with server.http() as http:
        body = {**BODY, "policy": {"group_count": 3, "approval_required": True}}
        campaign = http.post(ROLLOUTS, json=body).json()
        href = campaign["_links"]["self"]["href"]
        assert campaign["policy"]["groups"] == [33.33, 66.67, 100.0] and campaign["targets"] == 0
        refused = http.post(href + "/start")
        assert refused.status_code == 409 and "approval" in refused.json()["detail"]
        assert http.post(href + "/approve").json()["state"] == "approved"
        assert http.post(href + "/start").json()["state"] == "running"


def test_bad_requests_and_callers_who_may_not(server: LiveServer) -> None:
    with server.http() as http:
        bad_policies = [
            {"groups": [50, 40, 100]},
            {"groups": [10, 50]},
            {"windows": [{"start": "25:00", "end": "06:00"}]},
        ]
        for policy in bad_policies:
            answer = http.post(ROLLOUTS, json={**BODY, "policy": policy})
            assert answer.status_code == 422, (policy, answer.text)
        assert http.post(ROLLOUTS, json={**BODY, "image": {"version": "2", "location": "ftp://x"}}).status_code == 422
        assert http.post(ROLLOUTS, json={**BODY, "extra": 1}).status_code == 422
        assert http.post(ROLLOUTS, content=b"{", headers={"content-type": "application/json"}).status_code == 400
        assert http.get(f"{ROLLOUTS}/not-a-campaign").status_code == 404
        assert http.get(f"{ROLLOUTS}/00000000-0000-0000-0000-000000000000").status_code == 404
        assert http.post(f"{ROLLOUTS}/00000000-0000-0000-0000-000000000000/start").status_code == 404
        href = http.post(ROLLOUTS, json=BODY).json()["_links"]["self"]["href"]
    with server.http(Role.USER) as user:
        assert user.post(ROLLOUTS, json=BODY).status_code == 403
        assert user.get(href).status_code == 403
        assert user.post(href + "/start").status_code == 403
    with server.http(None) as nobody:
        assert nobody.get(href).status_code == 401


def test_the_campaigns_are_listed_newest_first_a_page_at_a_time(server: LiveServer) -> None:
    with server.http() as http:
        hrefs = [http.post(ROLLOUTS, json=BODY).json()["_links"]["self"]["href"] for _ in range(3)]
        other = http.post(ROLLOUTS, json={**BODY, "family": "home-11kw"}).json()
        assert http.post(hrefs[0] + "/start").status_code == 200
        server.settle()
        first = http.get(ROLLOUTS, params={"limit": 2, "family": "home-22kw"}).json()
        assert len(first["items"]) == 2 and "next" in first["_links"]
        rest = http.get(first["_links"]["next"]["href"]).json()
        seen = [i["_links"]["self"]["href"] for i in first["items"] + rest["items"]]
        assert seen == hrefs[::-1] and "next" not in rest["_links"]
        running = http.get(ROLLOUTS, params={"state": "running"}).json()["items"]
        assert [(i["_links"]["self"]["href"], i["state"]) for i in running] == [(hrefs[0], "running")]
        everything = http.get(ROLLOUTS).json()["items"]
        assert everything[0]["campaign_id"] == other["campaign_id"] and len(everything) == 4
        assert http.get(ROLLOUTS, params={"limit": 0}).status_code == 400
    with server.http(Role.USER) as user:
        assert user.get(ROLLOUTS).status_code == 403
