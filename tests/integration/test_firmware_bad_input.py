"""Bad input around images and campaigns, on SQLite and PostgreSQL, each with its clear outcome: an image of
another family, a charger below the image's minimum version, a report from a charger in no campaign, a boot on
a version no image has, and a roll-back whose previous image nobody uploaded."""

from __future__ import annotations

import asyncio
import os
from typing import Any
from uuid import UUID

import httpx
from ocpp.v201 import call

from cloudbay_domain.firmware_update import Outcome, Stage
from tests.support import LiveServer, Station, station

ROLLOUTS = "/api/v1/rollouts"


def upload(http: httpx.Client, family: str, version: str, **facts: str) -> dict[str, Any]:
    params = {"family": family, "version": version, **facts}
    answer = http.post("/api/v1/firmware-images", params=params, content=os.urandom(1000))
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def booted(server: LiveServer, station_id: str, version: str) -> None:
    async def boot() -> None:
        async with station(server, station_id, Station) as cp:
            await cp.boot(version)

    asyncio.run(boot())


def test_an_image_of_another_family_is_refused_and_old_chargers_are_skipped(server: LiveServer) -> None:
    assert server.runtime is not None
    server.runtime.authority.init()
    for station_id, version in (("BI-1", "0.9.0"), ("BI-2", "1.2.0"), ("BI-3", "1.10.0")):
        server.whitelist(station_id, "home-22kw")
        booted(server, station_id, version)
    server.settle()
    with server.http() as http:
        other = upload(http, "home-11kw", "3.0.0")
        wrong = http.post(ROLLOUTS, json={"family": "home-22kw", "channel": "stable", "image_id": other["image_id"]})
        assert wrong.status_code == 422 and "home-11kw" in wrong.json()["detail"]
        nothing = http.post(ROLLOUTS, json={"family": "home-22kw", "channel": "stable"})
        assert nothing.status_code == 422
        missing = http.post(ROLLOUTS, json={"family": "home-22kw", "channel": "stable", "image_id": str(UUID(int=1))})
        assert missing.status_code == 404
        image = upload(http, "home-22kw", "2.0.0", minimum_version="1.2.0")
        created = http.post(ROLLOUTS, json={"family": "home-22kw", "channel": "stable", "image_id": image["image_id"]})
        assert created.status_code == 201, created.text
        campaign = created.json()
    assert campaign["targets"] == 2 and campaign["skipped"] == {"BelowMinimumVersion": 1}  # 0.9.0 < 1.2.0
    assert campaign["image"]["sha256"] == image["sha256"] and campaign["image"]["image_id"] == image["image_id"]
    assert server.platform.rollouts.update_of("BI-1") is None  # never enlisted
    assert server.platform.rollouts.record_status("BI-1", "Downloading", 7) is Outcome.NOT_IN_CAMPAIGN


def test_reports_of_a_charger_in_no_campaign_are_answered_and_change_nothing(server: LiveServer) -> None:
    server.whitelist("BI-4", "home-22kw")

    async def report() -> Any:
        async with station(server, "BI-4", Station) as cp:
            await cp.boot("1.0.0")
            return await cp.call(call.FirmwareStatusNotification(status="Installed", request_id=1_000_001))

    assert asyncio.run(report()) is not None  # answered
    assert server.platform.rollouts.update_of("BI-4") is None


def test_a_boot_on_a_version_no_image_has_fails_the_charger_and_a_roll_back_says_what_it_cannot_do(
    server: LiveServer,
) -> None:
    for station_id in ("BI-5", "BI-6"):
        server.whitelist(station_id, "home-22kw")
        booted(server, station_id, "1.0.0")
    server.settle()
    body = {"family": "home-22kw", "channel": "stable", "policy": {"groups": [100], "error_threshold": 1},
            "image": {"version": "2.0.0", "location": "https://firmware.example.com/2.0.0.bin"}}  # fmt: skip
    with server.http() as http:
        href = http.post(ROLLOUTS, json=body).json()["_links"]["self"]["href"]
        server.settle()
        assert http.post(href + "/start").status_code == 200
    rollouts = server.platform.rollouts
    for station_id in ("BI-5", "BI-6"):  # as if UpdateFirmware had gone out and been installed
        update = rollouts.update_of(station_id)
        assert update is not None
        update.request()
        update.answered("Accepted")
        server.platform.log.save(update)
        assert rollouts.record_status(station_id, "Installed", update.request_id) is Outcome.RECORDED
    assert rollouts.record_boot("BI-5", "7.7.7") is Outcome.RECORDED
    bad = rollouts.update_of("BI-5")
    assert bad is not None and (bad.stage, bad.reason) == (Stage.FAILED, "UnknownVersion: 7.7.7")
    assert rollouts.record_boot("BI-6", "2.0.0") is Outcome.RECORDED
    server.settle()
    with server.http() as http:
        rolled = http.post(href + "/rollback").json()
    assert rolled["state"] == "rolled-back"
    assert [(r["previous_version"], r["chargers"], r["campaign_id"]) for r in rolled["reverts"]] == [("1.0.0", 1, None)]
    assert "no image of version 1.0.0" in rolled["reverts"][0]["reason"]
    assert rolled["groups"][0]["failures"] == {"UnknownVersion": 1}


def test_an_upload_the_platform_cannot_sign_without_a_ca_is_refused_and_not_kept(server: LiveServer) -> None:
    with server.http() as http:
        answer = http.post("/api/v1/firmware-images", params={"family": "f", "version": "1"}, content=b"image")
    assert answer.status_code == 503 and answer.json()["reason"] == "NoAuthority"
    directory = server.settings.firmware_files.directory
    assert not directory.exists() or list(directory.iterdir()) == []


def test_a_charger_that_went_below_the_minimum_since_planning_is_let_go_not_updated(server: LiveServer) -> None:
    server.whitelist("BI-7", "home-22kw")
    booted(server, "BI-7", "1.2.0")
    server.settle()
    image = {"version": "2.0.0", "location": "https://firmware.example.com/2.0.0.bin", "minimum_version": "1.2.0"}
    body = {"family": "home-22kw", "channel": "stable", "image": image, "policy": {"groups": [100]}}
    with server.http() as http:
        created = http.post(ROLLOUTS, json=body).json()
    assert created["targets"] == 1

    async def back_on_an_old_version() -> list[Any]:
        async with station(server, "BI-7", Station) as cp:
            await cp.boot("0.9.0")  # flashed back by hand since the campaign was planned
            with server.http() as http:
                started = await asyncio.to_thread(http.post, created["_links"]["self"]["href"] + "/start")
            assert started.status_code == 200
            for _ in range(250):
                update = await asyncio.to_thread(server.platform.rollouts.update_of, "BI-7")
                if update is not None and update.stage is Stage.CANCELLED:
                    break
                await asyncio.sleep(0.02)
            return [name for name, _ in cp.received]

    received = asyncio.run(back_on_an_old_version())
    update = server.platform.rollouts.update_of("BI-7")
    assert update is not None and update.stage is Stage.CANCELLED
    assert update.reason == "BelowMinimumVersion: 0.9.0 < 1.2.0"
    assert "UpdateFirmware" not in received
