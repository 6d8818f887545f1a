"""PublishFirmware and UnpublishFirmware (L03/L04) with a real ``ocpp`` local controller, on SQLite and
PostgreSQL: it is sent the image's expiring link and MD5, downloads it, reports where it serves it, and stops."""

from __future__ import annotations

import asyncio
import hashlib
import os
from typing import Any

import httpx
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from adapters.auth import Role
from tests.support import LiveServer, Station, station

BLOB = os.urandom(64_000)
PUBLICATION = "/api/v1/chargers/LC-1/firmware-publication"


class Controller(Station):
    """A local controller: downloads what it is told to publish, checks the MD5, serves it."""

    @on(Action.publish_firmware)
    async def on_publish_firmware(self, location: str, checksum: str, request_id: int, **kwargs: Any) -> Any:
        await self._answer("PublishFirmware", {"location": location, "checksum": checksum, "request_id": request_id,
                                               **kwargs})  # fmt: skip
        asyncio.get_running_loop().create_task(self.fetch(location, checksum, request_id))
        return call_result.PublishFirmware(status="Accepted")

    @on(Action.unpublish_firmware)
    async def on_unpublish_firmware(self, checksum: str, **kwargs: Any) -> Any:
        await self._answer("UnpublishFirmware", {"checksum": checksum})
        return call_result.UnpublishFirmware(status="Unpublished")

    async def fetch(self, location: str, checksum: str, request_id: int) -> None:
        async with httpx.AsyncClient(timeout=10) as http:
            data = (await http.get(location)).content
        verified = hashlib.md5(data, usedforsecurity=False).hexdigest() == checksum
        for status in ("Downloaded", "ChecksumVerified" if verified else "InvalidChecksum"):
            await self.call(call.PublishFirmwareStatusNotification(status=status, request_id=request_id))
        if verified:
            await self.call(call.PublishFirmwareStatusNotification(
                status="Published", request_id=request_id, location=["http://192.168.1.2/fw/2.5.0.bin"]))  # fmt: skip


def published(server: LiveServer) -> dict[str, Any]:
    with server.http() as http:
        return dict(http.get(PUBLICATION).json())


def test_a_local_controller_publishes_then_unpublishes_an_image(server: LiveServer) -> None:
    assert server.runtime is not None
    server.runtime.authority.init()
    server.whitelist("LC-1", "home-22kw")
    with server.http() as http:
        image = http.post("/api/v1/firmware-images", params={"family": "home-22kw", "version": "2.5.0"},
                          content=BLOB).json()  # fmt: skip
        assert http.get(PUBLICATION).status_code == 404

    async def run() -> tuple[dict[str, Any], dict[str, Any], list[tuple[str, dict[str, Any]]]]:
        async with station(server, "LC-1", Controller) as cp:
            await cp.boot("1.0.0")
            with server.http() as http:
                sent = await asyncio.to_thread(http.put, PUBLICATION, json={"image_id": image["image_id"]})
            assert sent.status_code == 200, sent.text
            for _ in range(250):
                state = await asyncio.to_thread(published, server)
                if state["status"] == "Published":
                    break
                await asyncio.sleep(0.02)
            with server.http() as http:
                stopped = await asyncio.to_thread(http.delete, PUBLICATION)
            return state, stopped.json(), cp.received

    state, stopped, received = asyncio.run(run())
    md5 = hashlib.md5(BLOB, usedforsecurity=False).hexdigest()
    assert (state["status"], state["locations"], state["checksum"]) == (
        "Published",
        ["http://192.168.1.2/fw/2.5.0.bin"],
        md5,
    )
    assert state["answer"] == "Accepted" and state["request_id"] == 2_000_001
    request = dict(received)["PublishFirmware"]
    assert request["checksum"] == md5 and f"/firmware/{image['sha256']}?expires=" in request["location"]
    assert (request["retries"], request["retry_interval"]) == (3, 600)
    assert dict(received)["UnpublishFirmware"] == {"checksum": md5}
    assert (stopped["answer"], stopped["status"], stopped["locations"]) == ("Unpublished", "Unpublished", [])
    with server.http() as http:
        assert http.put(PUBLICATION, json={"image_id": "nope"}).status_code == 404
        offline = http.put(PUBLICATION, json={"image_id": image["image_id"]}).json()
        assert offline["answer"] == "Offline" and offline["request_id"] == 2_000_002
        assert (
            http.put("/api/v1/chargers/NOPE/firmware-publication", json={"image_id": image["image_id"]}).status_code
            == 404
        )
    with server.http(Role.USER) as user:
        assert user.get(PUBLICATION).status_code in (403, 404)
