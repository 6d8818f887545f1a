"""The latest stable firmware at enrolment, over a real WebSocket and real HTTP, on SQLite and PostgreSQL: the
``ocpp`` library's charger enrols, boots an old version, is sent UpdateFirmware, reports its progress and boots
the stable version; only then is its device ready, and released without ``allow_unenrolled``."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action
from typer.testing import CliRunner

from adapters.auth import Role
from adapters.cli.main import app
from cloudbay_domain.device import Device
from tests.manufacturing_support import box_payload
from tests.pki_support import EnrollingStation, csr_pem, installed
from tests.support import LiveServer, exchange, raw_socket, station, wait_until

FAMILY = "/api/v1/hardware-families/home-22kw"
STABLE = {"version": "2.0.0", "location": "https://firmware.example.com/home-22kw/2.0.0.bin"}


class UpdatingStation(EnrollingStation):
    """A charger that accepts UpdateFirmware and reports its progress when told to."""

    @on(Action.update_firmware)
    async def on_update_firmware(self, request_id: int, firmware: dict[str, Any], **kwargs: Any) -> Any:
        await self._answer("UpdateFirmware", {"request_id": request_id, "firmware": firmware, **kwargs})
        return call_result.UpdateFirmware(status="Accepted")

    async def firmware_status(self, status: str, request_id: int | None) -> Any:
        return await self.call(call.FirmwareStatusNotification(status=status, request_id=request_id), suppress=False)

    async def arrived(self, action: str) -> dict[str, Any]:
        for _ in range(500):
            for name, payload in self.received:
                if name == action:
                    return payload
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {action} arrived; only {[name for name, _ in self.received]}")


def device(server: LiveServer, station_id: str) -> Device:
    found: Device = server.platform.log.repository.get(Device.create_id(station_id))
    return found


async def state_becomes(server: LiveServer, station_id: str, state: str) -> None:
    for _ in range(500):
        if (await asyncio.to_thread(device, server, station_id)).state.value == state:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{station_id} did not become {state}")


async def enrol(server: LiveServer, cp: UpdatingStation) -> None:
    assert (await cp.sign_certificate(csr_pem(cp.id), "ChargingStationCertificate")).status == "Accepted"
    await installed(server)
    await state_becomes(server, cp.id, "enrolled")


def set_stable(server: LiveServer) -> None:
    with server.http() as http:
        answer = http.put(f"{FAMILY}/stable-firmware", json=STABLE)
        assert answer.status_code == 200, answer.text
        assert answer.json()["stable_firmware"] == {**STABLE, "set_by": "operator@example.com"}


def test_an_enrolled_charger_on_old_firmware_is_updated_then_ready(pki: LiveServer) -> None:
    set_stable(pki)

    async def update() -> tuple[dict[str, Any], str]:
        async with station(pki, "EN-1", UpdatingStation) as cp:
            await enrol(pki, cp)
            await cp.boot("1.0.0")
            sent = await cp.arrived("UpdateFirmware")
            await asyncio.to_thread(wait_until, lambda: device(pki, "EN-1").firmware_status == "Accepted")
            for status in ("Downloading", "Downloaded", "Installing", "Installed"):
                await cp.firmware_status(status, sent["request_id"])
            before = (await asyncio.to_thread(device, pki, "EN-1")).state.value
        async with station(pki, "EN-1", UpdatingStation) as cp:  # it reboots into the new image
            await cp.boot("2.0.0")
            await state_becomes(pki, "EN-1", "ready")
            assert "UpdateFirmware" not in [name for name, _ in cp.received]
        return sent, before

    sent, before = asyncio.run(update())
    assert before == "enrolled"
    assert sent["request_id"] == 1 and sent["firmware"]["location"] == STABLE["location"]
    assert sent["firmware"]["retrieve_date_time"].endswith("Z")
    changes = [e for e in pki.platform.log.events.get(Device.create_id("EN-1")) if isinstance(e, Device.StateChanged)]
    assert (changes[-1].state_to, changes[-1].by) == ("ready", "platform")
    assert "2.0.0" in changes[-1].reason
    pki.settle()
    with pki.http() as http:
        shown = http.get("/api/v1/chargers/EN-1/device").json()
        assert shown["state"] == "ready"
        assert shown["firmware_update"] == {"request_id": 1, "version": "2.0.0", "status": "Installed"}
        listed = http.get("/api/v1/chargers?state=ready").json()["items"]
        assert [c["station_id"] for c in listed] == ["EN-1"]
        released = http.post("/api/v1/chargers/EN-1/release", json={"box_code": box_payload(http, "EN-1")})
        assert released.status_code == 200 and released.json()["state"] == "released", released.text


def test_one_on_the_stable_version_is_ready_at_once_and_without_one_stays_enrolled(pki: LiveServer) -> None:
    async def boot(station_id: str, version: str) -> list[str]:
        async with station(pki, station_id, UpdatingStation) as cp:
            await enrol(pki, cp)
            await cp.boot(version)
            if version == STABLE["version"]:
                await state_becomes(pki, station_id, "ready")
            else:
                await asyncio.sleep(0.3)  # time for a request that must not come
            await cp.firmware_status("Idle", None)
            return [name for name, _ in cp.received]

    assert "UpdateFirmware" not in asyncio.run(boot("EN-2", "1.0.0"))  # no stable version for its family yet
    assert device(pki, "EN-2").state.value == "enrolled" and device(pki, "EN-2").firmware_status == "Idle"
    with pki.http() as http:
        assert http.get(FAMILY).status_code == 404
    set_stable(pki)
    assert "UpdateFirmware" not in asyncio.run(boot("EN-1", "2.0.0"))
    assert device(pki, "EN-1").state.value == "ready" and device(pki, "EN-1").firmware_requests == 0


def test_one_that_booted_before_enrolling_is_sent_the_update_at_its_enrolment(pki: LiveServer) -> None:
    set_stable(pki)

    async def boot_then_enrol() -> list[str]:
        async with station(pki, "EN-1", UpdatingStation) as cp:
            await cp.boot("1.0.0")  # still manufactured: nothing to do
            await enrol(pki, cp)  # enrolled in this connection, without booting again
            await cp.arrived("UpdateFirmware")
            await asyncio.to_thread(wait_until, lambda: device(pki, "EN-1").firmware_requests == 1)
            await cp.sign_certificate(csr_pem("EN-1"))  # a renewal: no second UpdateFirmware
            await asyncio.sleep(0.3)
            return [name for name, _ in cp.received]

    assert [name for name in asyncio.run(boot_then_enrol()) if name == "UpdateFirmware"] == ["UpdateFirmware"]
    assert device(pki, "EN-1").state.value == "enrolled" and device(pki, "EN-1").firmware_status == "Accepted"


BAD_BODIES = [
    {"version": "", "location": STABLE["location"]},
    {"version": "   ", "location": STABLE["location"]},
    {"version": "x" * 51, "location": STABLE["location"]},
    {"version": "2.0\u00000", "location": STABLE["location"]},
    {"version": "2.0.0\n", "location": STABLE["location"]},
    {"version": "2.0.0", "location": "ftp://firmware.example.com/a.bin"},
    {"version": "2.0.0", "location": "file:///etc/passwd"},
    {"version": "2.0.0", "location": "https://"},
    {"version": "2.0.0", "location": "https://example.com/" + "a" * 2000},
    {"version": "2.0.0"},
    {"version": "2.0.0", "location": STABLE["location"], "extra": 1},
]


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_bad_stable_firmware_is_refused_and_nothing_is_written(line: LiveServer) -> None:
    with line.http() as http:
        head = line.head()
        for body in BAD_BODIES:
            answer = http.put(f"{FAMILY}/stable-firmware", json=body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
        long_family = "/api/v1/hardware-families/" + "f" * 65
        assert http.put(f"{long_family}/stable-firmware", json=STABLE).status_code == 422
        assert http.get(long_family).status_code == 422
        assert line.head() == head
        # a control character in the family's name: refused by the path's text guard, before any handler
        assert http.put("/api/v1/hardware-families/a%07b/stable-firmware", json=STABLE).status_code == 400
    with line.http(role=None) as anonymous, line.http(Role.MANUFACTURER) as manufacturer, line.http() as http:
        assert anonymous.get(FAMILY).status_code == 401
        assert manufacturer.put(f"{FAMILY}/stable-firmware", json=STABLE).status_code == 403
        assert manufacturer.get(FAMILY).status_code == 404
        assert http.put(f"{FAMILY}/stable-firmware", json=STABLE).status_code == 200
        assert manufacturer.get(FAMILY).json()["stable_firmware"]["version"] == "2.0.0"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_firmware_status_without_a_device_is_answered_and_an_unknown_status_refused(line: LiveServer) -> None:
    line.whitelist("HAND-1")

    async def report() -> tuple[Any, list[Any]]:
        async with station(line, "HAND-1", UpdatingStation) as cp:
            await cp.boot("1.0.0")
            await asyncio.sleep(0.2)  # the boot's own writes
            head = await asyncio.to_thread(line.head)
            answer = await cp.firmware_status("Installed", 3)
            assert await asyncio.to_thread(line.head) == head  # nothing to keep it on: only logged
        async with raw_socket(line, "HAND-1") as ws:  # a status outside the schema's, with a NUL in it
            frame = json.dumps([2, "f1", "FirmwareStatusNotification", {"status": "Install\u0000ed"}])
            return answer, await exchange(ws, frame)

    answer, refused = asyncio.run(report())
    assert answer is not None and refused[:2] == [4, "f1"], refused


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_cli_sets_and_shows_the_stable_firmware(store_url: str, tmp_path: Path) -> None:
    env = {"CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}
    runner = CliRunner()
    args = ["firmware", "set-stable", "home-22kw", "2.0.0", "--location", STABLE["location"], "--by", "line-7"]
    done = runner.invoke(app, args, env=env)
    assert done.exit_code == 0, done.output
    assert runner.invoke(app, ["firmware", "show", "home-22kw"], env=env).output.split() == [
        "home-22kw",
        "2.0.0",
        STABLE["location"],
    ]
    bad = runner.invoke(app, [*args[:4], "--location", "ftp://x/y"], env=env)
    assert bad.exit_code == 2 and "http" in bad.output
    assert runner.invoke(app, ["firmware", "show", "pro"], env=env).exit_code == 1
