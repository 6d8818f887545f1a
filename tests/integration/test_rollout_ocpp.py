"""A rollout campaign end to end, on SQLite and PostgreSQL: real HTTP to create and start it, a real ``ocpp``
charger receiving UpdateFirmware, reporting its progress and booting the new version; an aborted campaign's
late report, and a charger offline at the start updated when it comes back."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from cloudbay_domain.firmware_update import Stage
from tests.support import LiveServer, Station, station

BODY: dict[str, Any] = {
    "family": "home-22kw",
    "channel": "stable",
    "image": {"version": "2.5.0", "location": "https://firmware.example.com/home-22kw/2.5.0.bin"},
    "policy": {"groups": [100]},
}


class Updating(Station):
    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        await self._answer("UpdateFirmware", {"request_id": request_id, "firmware": firmware})
        return call_result.UpdateFirmware(status="Accepted")

    async def firmware_status(self, status: str, request_id: int) -> Any:
        return await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False)

    async def update_request(self) -> dict[str, Any]:
        for _ in range(500):
            for name, payload in self.received:
                if name == "UpdateFirmware":
                    return payload
            await asyncio.sleep(0.02)
        raise AssertionError("no UpdateFirmware arrived")


def stage_of(server: LiveServer, station_id: str) -> Stage | None:
    update = server.platform.rollouts.update_of(station_id)
    return None if update is None else update.stage


def create_and_start(server: LiveServer) -> str:
    server.settle()
    with server.http() as http:
        created = http.post("/api/v1/rollouts", json=BODY)
        assert created.status_code == 201, created.text
        href: str = created.json()["_links"]["self"]["href"]
        server.settle()
        assert http.post(href + "/start").status_code == 200
    return href


def test_a_charger_is_updated_by_its_campaign_over_ocpp(server: LiveServer) -> None:
    server.whitelist("RO-1", "home-22kw")

    async def update() -> dict[str, Any]:
        async with station(server, "RO-1", Updating) as cp:
            await cp.boot("1.0.0")
            await asyncio.to_thread(create_and_start, server)
            request = await cp.update_request()
            for status in ("Downloading", "Downloaded", "SignatureVerified", "Installing", "Installed"):
                await cp.firmware_status(status, request["request_id"])
            await cp.boot("2.5.0")
            for _ in range(250):
                if await asyncio.to_thread(stage_of, server, "RO-1") is Stage.SUCCEEDED:
                    break
                await asyncio.sleep(0.02)
            return request

    request = asyncio.run(update())
    assert request["firmware"]["location"] == BODY["image"]["location"]
    assert stage_of(server, "RO-1") is Stage.SUCCEEDED
    campaigns = server.platform.rollouts
    done = campaigns.update_of("RO-1")
    assert done is not None and done.campaign_id is not None
    server.settle()
    assert server.platform.rollout_dispatcher.review(done.campaign_id) == "completed"
    server.settle()
    with server.http() as http:
        body = http.get(f"/api/v1/rollouts/{done.campaign_id}").json()
    assert body["state"] == "completed" and body["groups"][0]["stages"]["succeeded"] == 1


def test_an_offline_charger_is_updated_when_it_returns_and_a_late_report_is_let_go(server: LiveServer) -> None:
    server.whitelist("RO-2", "home-22kw")
    href = create_and_start(server)  # RO-2 is offline: nothing is sent

    async def comes_back() -> dict[str, Any]:
        async with station(server, "RO-2", Updating) as cp:
            await cp.boot("1.0.0")
            request = await cp.update_request()
            await asyncio.to_thread(abort, server, href)
            await cp.firmware_status("Downloading", request["request_id"])  # answered; the charger is let go
            return request

    request = asyncio.run(comes_back())
    assert request["request_id"] > 1_000_000
    update = server.platform.rollouts.update_of("RO-2")
    assert update is not None, update
    assert update.stage is Stage.CANCELLED, update.reason
    campaign = server.platform.rollouts.get(UUID(href.rsplit("/", 1)[1]))
    assert campaign.state.value == "aborted"


def abort(server: LiveServer, href: str) -> None:
    with server.http() as http:
        assert http.post(href + "/abort", json={"reason": "a bad image"}).status_code == 200
