"""The live feed of a rollout campaign's progress over a real WebSocket, on SQLite and PostgreSQL: real ``ocpp``
chargers walk the firmware statuses and the watching operator sees the counts move to the end."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any
from uuid import UUID, uuid4

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from adapters.auth import Role
from adapters.http.live_hub import SLOW_CONSUMER_CLOSE_CODE
from tests.integration.test_live_api import live_url, receive
from tests.integration.test_rollout_ocpp import BODY, Updating
from tests.support import LiveServer, station

IDS = [f"LR-{n}" for n in range(4)]


def create(server: LiveServer) -> str:
    for station_id in IDS:
        server.whitelist(station_id, "home-22kw")
    server.settle()
    with server.http() as http:
        created = http.post("/api/v1/rollouts", json=BODY)
    assert created.status_code == 201, created.text
    server.settle()
    return str(created.json()["campaign_id"])


def command(server: LiveServer, campaign_id: str, name: str) -> None:
    with server.http() as http:
        assert http.post(f"/api/v1/rollouts/{campaign_id}/{name}").status_code == 200
    server.settle()


async def walk(cp: Updating) -> None:
    request = await cp.update_request()
    for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
        await cp.firmware_status(status, request["request_id"])
    await cp.boot("2.5.0")


def test_the_counts_of_a_campaign_move_to_the_end_as_its_chargers_walk_the_statuses(server: LiveServer) -> None:
    token = server.token()
    for station_id in IDS:
        server.whitelist(station_id, "home-22kw")

    async def scenario() -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
        async with contextlib.AsyncExitStack() as stack:
            chargers = [await stack.enter_async_context(station(server, i, Updating)) for i in IDS]
            for cp in chargers:
                await cp.boot("1.0.0")
            campaign_id = await asyncio.to_thread(create, server)
            url = live_url(server, f"rollout={campaign_id}&access_token={token}")
            async with connect(url) as ws:
                snapshot = await receive(ws)
                await asyncio.to_thread(command, server, campaign_id, "start")
                walks = asyncio.gather(*(walk(cp) for cp in chargers))
                messages, reviewed = [await receive(ws)], False
                while messages[-1]["rollout"]["state"] != "completed":
                    if messages[-1]["rollout"]["settled"] == len(IDS) and not reviewed:  # the round that completes
                        review = server.platform.rollout_dispatcher.review
                        await asyncio.to_thread(review, UUID(campaign_id))
                        reviewed = True
                    messages.append(await receive(ws))
                await walks
            return campaign_id, snapshot, messages

    campaign_id, snapshot, messages = asyncio.run(scenario())
    assert snapshot["type"] == "snapshot" and snapshot["campaign_id"] == campaign_id
    assert snapshot["rollout"]["state"] == "draft" and snapshot["rollout"]["targets"] == len(IDS)
    assert snapshot["rollout"]["groups"][0]["stages"]["pending"] == len(IDS) and snapshot["rollout"]["settled"] == 0
    assert {m["type"] for m in messages} == {"progress"} and {m["campaign_id"] for m in messages} == {campaign_id}
    positions = [snapshot["position"]] + [m["position"] for m in messages]
    assert positions == sorted(set(positions))  # each message is of a later read model than the one before
    settled = [m["rollout"]["settled"] for m in messages]
    assert settled == sorted(settled) and settled[0] < len(IDS) == settled[-1]
    assert messages[0]["rollout"]["state"] == "running"
    last = messages[-1]["rollout"]
    assert last["groups"][0]["stages"]["succeeded"] == len(IDS) and last["state"] == "completed"
    server.settle()
    with server.http() as http:
        assert http.get(f"/api/v1/rollouts/{campaign_id}").json() == last  # the same body as REST's
    assert server.runtime is not None
    assert server.runtime.live_rollouts.watched() == 0  # unsubscribed when the client left


REFUSED = [
    ("rollout={campaign}", None, 401),
    ("rollout={campaign}&access_token=forged", None, 401),
    ("rollout={campaign}", Role.USER, 403),
    ("rollout={campaign}", Role.MANUFACTURER, 403),
    (f"rollout={uuid4()}", Role.OPERATOR, 404),
    ("rollout=not-a-campaign", Role.OPERATOR, 404),
    ("rollout=", Role.OPERATOR, 404),
    ("rollout={campaign}&charger=LR-0", Role.OPERATOR, 400),
]


def test_refused_upgrades_of_the_rollout_feed_are_http_problems(server: LiveServer) -> None:
    campaign_id = create(server)

    async def refused(query: str, role: Role | None) -> Any:
        headers = {}
        if role is not None:
            token = await asyncio.to_thread(server.token, f"{role.value}@example.com", role)
            headers["Authorization"] = f"Bearer {token}"
        with pytest.raises(InvalidStatus) as refusal:
            async with connect(live_url(server, query.format(campaign=campaign_id)), additional_headers=headers):
                pass
        return refusal.value.response

    for query, role, status in REFUSED:
        response = asyncio.run(refused(query, role))
        assert response.status_code == status, query
        assert response.headers["Content-Type"] == "application/problem+json"
        assert json.loads(response.body)["status"] == status


def test_a_client_that_falls_behind_on_a_campaign_is_closed_with_a_clear_code(server: LiveServer) -> None:
    campaign_id = create(server)  # its chargers are offline: only the operators' decisions move it
    assert server.runtime is not None
    hub = server.runtime.live_rollouts
    hub.queue_size, hub.interval = 1, 60.0  # one batch pushed, then a pause no new batch can wait out

    async def scenario() -> tuple[dict[str, Any], ConnectionClosed]:
        async with connect(live_url(server, f"rollout={campaign_id}&access_token={server.token()}")) as ws:
            await receive(ws)
            for name in ("start", "pause", "resume"):  # three batches, each touching the campaign
                await asyncio.to_thread(command, server, campaign_id, name)
            progress = await receive(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await receive(ws)
            return progress, closed.value

    progress, closed = asyncio.run(scenario())
    assert progress["type"] == "progress" and progress["rollout"]["state"] == "running"
    assert closed.rcvd is not None and closed.rcvd.code == SLOW_CONSUMER_CLOSE_CODE
    assert "reconnect" in closed.rcvd.reason
