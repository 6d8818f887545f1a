"""A campaign over 20 real ``ocpp`` 2.0.1 chargers, on SQLite and PostgreSQL: an uploaded image signed by the
platform, UpdateFirmware with an expiring link, the signature and its certificate; each charger downloads the
image over HTTP in two byte ranges (the download breaks off, then resumes), verifies the signature and walks
the statuses; three fail to install. Then a roll-back re-installs the previous image on the chargers that
updated."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from typing import Any
from uuid import UUID

import httpx
from cryptography import x509
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from adapters.pki.firmware_signing import verify
from cloudbay_domain.firmware_update import SETTLED
from tests.support import LiveServer, Station, station

IDS = [f"FW-{n:02d}" for n in range(20)]
FAILING = {"FW-03", "FW-11", "FW-17"}
OLD, NEW = os.urandom(120_000), os.urandom(150_000)
VERSIONS = {hashlib.sha256(OLD).hexdigest(): "1.0.0", hashlib.sha256(NEW).hexdigest(): "2.5.0"}
HALF = 50_000


class Flashing(Station):
    """A charger that downloads what UpdateFirmware points at, resuming once, and installs it."""

    failing = False

    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        await self._answer("UpdateFirmware", {"request_id": request_id, "firmware": firmware, **kwargs})
        task = asyncio.get_running_loop().create_task(self.flash(request_id, firmware))
        self.tasks = [*getattr(self, "tasks", []), task]
        return call_result.UpdateFirmware(status="Accepted")

    async def report(self, status: str, request_id: int) -> None:
        await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False)

    async def flash(self, request_id: int, firmware: dict[str, Any]) -> None:
        await self.report("Downloading", request_id)
        async with httpx.AsyncClient(timeout=10) as http:
            first = await http.get(firmware["location"], headers={"Range": f"bytes=0-{HALF - 1}"})
            assert first.status_code == 206, first.text  # the download breaks off here ...
            rest = await http.get(firmware["location"], headers={"Range": f"bytes={len(first.content)}-"})
            assert rest.status_code == 206  # ... and resumes where it stopped
        data = first.content + rest.content
        digest = hashlib.sha256(data).digest()
        certificate = x509.load_pem_x509_certificate(firmware["signing_certificate"].encode())
        if not verify(certificate.public_key(), digest, base64.b64decode(firmware["signature"])):
            await self.report("InvalidSignature", request_id)
            return
        for status in ("Downloaded", "SignatureVerified", "Installing"):
            await self.report(status, request_id)
        if self.failing:
            await self.report("InstallationFailed", request_id)
            return
        await self.report("Installed", request_id)
        await self.boot(VERSIONS[digest.hex()])

    def updates(self) -> list[dict[str, Any]]:
        return [payload for name, payload in self.received if name == "UpdateFirmware"]


def upload(http: httpx.Client, blob: bytes, version: str, **facts: str) -> dict[str, Any]:
    params = {"family": "home-22kw", "version": version, **facts}
    answer = http.post("/api/v1/firmware-images", params=params, content=blob)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def prepare(server: LiveServer) -> dict[str, Any]:
    assert server.runtime is not None
    server.runtime.authority.init()
    for station_id in IDS:
        server.whitelist(station_id, "home-22kw")
    server.settle()
    with server.http() as http:
        upload(http, OLD, "1.0.0")
        image = upload(http, NEW, "2.5.0", minimum_version="1.0.0")
        assigned = http.post("/api/v1/firmware-channels/canary/assignments", json={"filter": {"station_ids": IDS}})
        assert assigned.json()["matched"] == 20
    return image


def create_and_start(server: LiveServer, image_id: str) -> str:
    server.settle()
    policy = {"groups": [100], "max_concurrent": 5, "error_threshold": 0.5}
    with server.http() as http:
        created = http.post("/api/v1/rollouts", json={"family": "home-22kw", "channel": "canary",
                                                      "image_id": image_id, "policy": policy})  # fmt: skip
        assert created.status_code == 201, created.text
        assert created.json()["targets"] == 20
        href: str = created.json()["_links"]["self"]["href"]
        server.settle()
        assert http.post(href + "/start").status_code == 200
    return href


def settled(server: LiveServer, ids: list[str], campaign_id: str) -> int:
    count = 0
    for station_id in ids:
        update = server.platform.rollouts.update_of(station_id)
        count += update is not None and str(update.campaign_id) == campaign_id and update.stage in SETTLED
    return count


def nudge(server: LiveServer, href: str) -> None:
    """What an operator may do when a round is far: pause and resume (a round runs at once)."""
    with server.http() as http:
        if http.post(href + "/pause").status_code == 200:
            http.post(href + "/resume")


async def until_settled(server: LiveServer, href: str, ids: list[str]) -> None:
    campaign_id, seen, still = href.rsplit("/", 1)[1], -1, 0
    for _ in range(3000):
        done = await asyncio.to_thread(settled, server, ids, campaign_id)
        if done == len(ids):
            return
        still = still + 1 if done == seen else 0
        seen = done
        if still and still % 100 == 0:  # 5 s without a settlement: a round (the serving node's every 10 s)
            await asyncio.to_thread(nudge, server, href)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{seen} of {len(ids)} settled")


def completed(server: LiveServer, href: str) -> dict[str, Any]:
    server.settle()
    server.platform.rollout_dispatcher.review(UUID(href.rsplit("/", 1)[1]))
    server.settle()
    with server.http() as http:
        return dict(http.get(href).json())


def test_twenty_chargers_download_resume_install_some_fail_then_roll_back(server: LiveServer) -> None:
    image = prepare(server)

    async def campaign() -> tuple[list[Flashing], str, dict[str, Any]]:
        async with contextlib.AsyncExitStack() as stack:
            chargers: list[Flashing] = [await stack.enter_async_context(station(server, i, Flashing)) for i in IDS]
            for cp in chargers:
                cp.failing = cp.id in FAILING
                await cp.boot("1.0.0")
            href = await asyncio.to_thread(create_and_start, server, image["image_id"])
            await until_settled(server, href, IDS)
            body = await asyncio.to_thread(completed, server, href)
            with server.http() as http:
                rolled = await asyncio.to_thread(http.post, href + "/rollback", json={"reason": "a bad image"})
            assert rolled.status_code == 200, rolled.text
            reverts = rolled.json()["reverts"]
            assert [(r["previous_version"], r["chargers"]) for r in reverts] == [("1.0.0", 17)]
            child = f"/api/v1/rollouts/{reverts[0]['campaign_id']}"
            await until_settled(server, child, [i for i in IDS if i not in FAILING])
            return chargers, href, {"first": body, "child": await asyncio.to_thread(completed, server, child)}

    chargers, href, bodies = asyncio.run(campaign())
    first, child = bodies["first"], bodies["child"]
    assert first["state"] == "completed", first
    stages = first["groups"][0]["stages"]
    assert (stages["succeeded"], stages["failed"]) == (17, 3)
    assert first["groups"][0]["failures"] == {"InstallationFailed": 3}
    assert (child["state"], child["targets"], child["groups"][0]["stages"]["succeeded"]) == ("completed", 17, 17)
    for cp in chargers:
        sent = cp.updates()
        assert len(sent) == (1 if cp.id in FAILING else 2), cp.id
        request = sent[0]
        assert request["firmware"]["location"].startswith(f"{server.base_url}/firmware/{image['sha256']}?expires=")
        assert request["firmware"]["signature"] == image["signature"]
        assert request["firmware"]["signing_certificate"] == image["signing_certificate"]
        assert (request["retries"], request["retry_interval"]) == (3, 600)
        if cp.id not in FAILING:  # re-installed: the old image, by its own link
            assert hashlib.sha256(OLD).hexdigest() in sent[1]["firmware"]["location"]
