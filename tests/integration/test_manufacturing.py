"""Manufacturing through the REST API over real HTTP, on SQLite and PostgreSQL: importing batches, MAC addresses,
labels and their codes, release, scrap, the lock, who may do what."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.auth import Role
from cloudbay_domain.codes import grouped
from cloudbay_domain.device import Device
from cloudbay_domain.mac import MacPool
from tests.manufacturing_support import (
    BLOCK,
    batch,
    box_payload,
    code_of,
    decode_pdf,
    decode_png,
    raw_store_bytes,
)
from tests.support import LiveServer, station

BATCHES = "/api/v1/production-batches"
PROBLEM = "application/problem+json"


def test_import_is_idempotent_and_devices_are_manufactured_chargers(line: LiveServer) -> None:
    with line.http() as http:
        created = http.post(BATCHES, json=batch("W48-A", ["MF-001", "MF-002", "MF-003"]))
        assert created.status_code == 201, created.text
        body = created.json()
        assert created.headers["location"] == f"{BATCHES}/W48-A"
        assert body["devices"] == 3 and body["states"]["manufactured"] == 3
        assert body["mac_ranges"] == [{"first": "02:00:00:00:00:00", "last": "02:00:00:00:00:02", "count": 3}]
        head = line.head()
        again = http.post(BATCHES, json=batch("W48-A", ["MF-001", "MF-002", "MF-003"]))
        assert again.status_code == 200 and again.json() == body and line.head() == head
        other = http.post(BATCHES, json=batch("W48-A", ["MF-001", "MF-009"]))
        assert other.status_code == 409 and other.headers["content-type"] == PROBLEM and line.head() == head
        charger = http.get("/api/v1/chargers/MF-002").json()
        assert charger["state"] == "manufactured" and charger["mac_address"] == "02:00:00:00:00:01"
        assert charger["batch_id"] == "W48-A" and charger["hardware_family"] == "home-22kw"
        found = http.get("/api/v1/chargers?mac=02-00-00-00-00-02").json()["items"]
        assert [c["station_id"] for c in found] == ["MF-003"]
        listed = http.get("/api/v1/chargers?state=manufactured").json()["items"]
        assert [c["station_id"] for c in listed] == ["MF-001", "MF-002", "MF-003"]
        assert http.get("/api/v1/chargers?state=sideways").status_code == 400
        assert http.get("/api/v1/chargers?mac=nope").status_code == 400
        assert http.get(f"{BATCHES}/W48-A").json()["states"]["manufactured"] == 3
        assert [b["batch_id"] for b in http.get(BATCHES).json()["items"]] == ["W48-A"]
        assert http.get(f"{BATCHES}/NOPE").status_code == 404


def test_the_same_file_as_csv_is_the_same_batch(line: LiveServer) -> None:
    with line.http() as http:
        first = http.post(BATCHES, json=batch(None, ["CSV-1", "CSV-2"]))
        assert first.status_code == 201
        csv = b"serial_number\nCSV-1\nCSV-2\n"
        params = {"hardware_family": "home-22kw", "model": "CB-Home-22"}
        again = http.post(BATCHES, params=params, content=csv, headers={"content-type": "text/csv"})
        assert again.status_code == 200 and again.json()["batch_id"] == first.json()["batch_id"]
        per_row = b"serial_number,model,hardware_family\nCSV-3,M-X,\nCSV-4,,pro\n"
        mixed = http.post(BATCHES, params=params, content=per_row, headers={"content-type": "text/csv; charset=utf-8"})
        assert mixed.status_code == 201, mixed.text
        assert http.get("/api/v1/chargers/CSV-4").json()["hardware_family"] == "pro"
        assert http.post(BATCHES, content=b"x", headers={"content-type": "text/plain"}).status_code == 415


def test_hand_whitelisted_chargers_are_outside_the_pipeline_and_still_connect(line: LiveServer) -> None:
    with line.http() as http:
        assert http.post("/api/v1/chargers", json={"serial_number": "HAND-1"}).status_code == 201
        assert http.get("/api/v1/chargers/HAND-1").json()["state"] == "whitelisted"
        refused = http.post("/api/v1/chargers/HAND-1/release", json={"box_code": "x", "allow_unenrolled": True})
        assert refused.status_code == 409 and refused.json()["state"] == "whitelisted"
        taken = http.post(BATCHES, json=batch("B-TAKEN", ["NEW-1", "HAND-1"]))
        assert taken.status_code == 409 and taken.json()["rows"] == [
            {"row": 2, "message": "a charger with this serial number exists already", "serial_number": "HAND-1"}
        ]
        assert http.get("/api/v1/chargers/NEW-1").status_code == 404  # nothing of the batch was written

    async def boot() -> str:
        async with station(line, "HAND-1") as cp:
            return str((await cp.boot()).status)

    assert asyncio.run(boot()) == "Accepted"


def test_a_block_too_small_refuses_the_whole_batch(store_url: str, tmp_path: Path) -> None:
    live = LiveServer(store_url, tmp_path / "data", mac_block="02:00:00:00:00:00/46").start()  # 4 addresses
    try:
        with live.http() as http:
            head = live.head()
            refused = http.post(BATCHES, json=batch("BIG", [f"S-{n}" for n in range(5)]))
            assert refused.status_code == 409 and refused.json()["addresses_left"] == 4 and live.head() == head
            assert http.post(BATCHES, json=batch("SMALL", ["S-1", "S-2", "S-3"])).status_code == 201
            assert http.post(BATCHES, json=batch("TWO", ["S-8", "S-9"])).json()["addresses_left"] == 1
            blocks = http.get("/api/v1/mac-blocks").json()
            assert blocks["addresses_left"] == 1 and blocks["items"][0]["configured"] is True
            assert http.post("/api/v1/mac-blocks", json={"block": "02:00:00:00:00:00/44"}).status_code == 409
            assert http.post("/api/v1/mac-blocks", json={"block": "02:00:00:00:00:00/46"}).status_code == 200
            assert http.post("/api/v1/mac-blocks", json={"block": "01:00:00:00:00:00/24"}).status_code == 422
            added = http.post("/api/v1/mac-blocks", json={"block": "06:00:00:00:00:00/40"})
            assert added.status_code == 201 and added.json()["addresses_left"] == 1 + 256
            assert http.post(BATCHES, json=batch("TWO", ["S-8", "S-9"])).status_code == 201
            macs = {http.get(f"/api/v1/chargers/{s}").json()["mac_address"] for s in ("S-8", "S-9")}
            assert macs == {"02:00:00:00:00:03", "06:00:00:00:00:00"}
        with live.http(Role.MANUFACTURER) as http:
            assert http.post("/api/v1/mac-blocks", json={"block": "0A:00:00:00:00:00/40"}).status_code == 403
    finally:
        live.stop()


def test_release_checks_the_box_code_and_locks_after_ten_wrong(line: LiveServer) -> None:
    with line.http(Role.MANUFACTURER) as http:
        assert http.post(BATCHES, json=batch("REL", ["R-1", "R-2"])).status_code == 201
        payload = box_payload(http, "R-1")
        assert payload.startswith("cloudbay://box?station=R-1&code=")
        unenrolled = http.post("/api/v1/chargers/R-1/release", json={"box_code": payload})
        assert unenrolled.status_code == 409 and unenrolled.json()["state"] == "manufactured"
        wrong_box = {"box_code": box_payload(http, "R-2"), "allow_unenrolled": True}
        other_box = http.post("/api/v1/chargers/R-1/release", json=wrong_box)
        assert other_box.status_code == 403 and other_box.json()["failed_attempts"] == 1
        typed = grouped(code_of(payload)).lower()  # as typed from the label, lower case with dashes
        released = http.post("/api/v1/chargers/R-1/release", json={"box_code": typed, "allow_unenrolled": True})
        assert released.status_code == 200 and released.json()["state"] == "released"
        again = http.post("/api/v1/chargers/R-1/release", json={"box_code": typed, "allow_unenrolled": True})
        assert again.status_code == 409 and again.json()["state"] == "released"
        for n in range(1, 11):
            wrong = http.post("/api/v1/chargers/R-2/release", json={"box_code": "WRONG", "allow_unenrolled": True})
            assert wrong.status_code == 403 and wrong.json()["failed_attempts"] == n
        right = {"box_code": box_payload(http, "R-2"), "allow_unenrolled": True}
        locked = http.post("/api/v1/chargers/R-2/release", json=right)
        assert locked.status_code == 423 and locked.json()["reason"] == "ReleaseLocked"
        assert http.post("/api/v1/chargers/R-2/release/unlock").status_code == 403  # operators only
        assert http.get("/api/v1/chargers/R-2").json()["state"] == "manufactured"
    with line.http() as http:
        unlocked = http.post("/api/v1/chargers/R-2/release/unlock")
        assert unlocked.status_code == 200 and unlocked.json()["release_locked"] is False
        assert http.post("/api/v1/chargers/R-2/release/unlock").status_code == 409
        assert http.post("/api/v1/chargers/R-2/release", json=right).json()["state"] == "released"
    line.settle()
    assert line.platform.log.load_or_none(Device.create_id("R-2")).locked is False
    events = [type(e).__name__ for e in line.platform.log.events.get(Device.create_id("R-2"))]
    assert events.count("ReleaseRefused") == 10 and events[-2:] == ["ReleaseUnlocked", "StateChanged"]


def test_scrapped_chargers_never_connect_and_their_mac_is_never_reused(line: LiveServer) -> None:
    with line.http(Role.MANUFACTURER) as http:
        assert http.post(BATCHES, json=batch("SCR", ["X-1", "X-2"])).status_code == 201
        scrapped = http.post("/api/v1/chargers/X-2/scrap", json={"reason": "failed insulation test"})
        assert scrapped.status_code == 200 and scrapped.json()["state"] == "scrapped"
        twice = http.post("/api/v1/chargers/X-2/scrap", json={})
        assert twice.status_code == 409 and twice.json()["state"] == "scrapped"
        box = {"box_code": box_payload(http, "X-2"), "allow_unenrolled": True}
        refused = http.post("/api/v1/chargers/X-2/release", json=box)
        assert refused.status_code == 409 and refused.json()["state"] == "scrapped"
        assert http.post(BATCHES, json=batch("SCR-2", ["X-3"])).status_code == 201
        assert http.get("/api/v1/chargers/X-3").json()["mac_address"] == "02:00:00:00:00:02"
        assert http.get("/api/v1/production-batches/SCR").json()["states"]["scrapped"] == 1

    async def connect_scrapped() -> int:
        try:
            async with connect(line.ws_url("X-2"), subprotocols=["ocpp2.0.1"]):  # type: ignore[list-item]
                return 101
        except InvalidStatus as e:
            return e.response.status_code

    assert asyncio.run(connect_scrapped()) == 404


def test_scrapping_closes_the_session_a_charger_holds(line: LiveServer) -> None:
    with line.http(Role.MANUFACTURER) as http:
        assert http.post(BATCHES, json=batch("ONLINE", ["ON-1"])).status_code == 201

        async def scrap_while_connected() -> int | None:
            async with station(line, "ON-1") as cp:
                await cp.boot()
                assert (await asyncio.to_thread(http.post, "/api/v1/chargers/ON-1/scrap", json={})).status_code == 200
                await asyncio.wait_for(cp._connection.wait_closed(), 10)
                return cp._connection.close_code

        assert asyncio.run(scrap_while_connected()) == 1008


def test_labels_decode_to_what_release_accepts_and_no_code_is_stored(line: LiveServer) -> None:
    serials = ["L-1", "L-2", "L-3"]
    with line.http(Role.MANUFACTURER) as http:
        assert http.post(BATCHES, json=batch("LAB", serials)).status_code == 201
        svg = http.get("/api/v1/chargers/L-1/labels/charger.svg")
        assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
        (charger_payload,) = decode_png(http.get("/api/v1/chargers/L-1/labels/charger.png").content)
        assert charger_payload.startswith("cloudbay://pair?station=L-1&code=")
        pdf = http.get(f"{BATCHES}/LAB/labels.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        decoded = decode_pdf(pdf.content)
        assert len(decoded) == 2 * len(serials) and charger_payload in decoded
        boxes = [p for p in decoded if p.startswith("cloudbay://box?")]
        devices = http.get(f"{BATCHES}/LAB/devices.csv").text.splitlines()
        assert devices[0] == "serial_number,station_id,mac_address,charger_code"
        assert devices[1] == f"L-1,L-1,02:00:00:00:00:00,{charger_payload}"
        codes = [code_of(p) for p in decoded]
        listed = "\n".join(devices)
        assert not any(code_of(box) in listed or grouped(code_of(box)) in listed for box in boxes)
        for box in boxes:
            station_id = box.split("station=")[1].split("&")[0]
            body = {"box_code": box, "allow_unenrolled": True}
            answer = http.post(f"/api/v1/chargers/{station_id}/release", json=body)
            assert answer.status_code == 200, answer.text
    line.settle()
    stored = raw_store_bytes(line)
    assert b"L-1" in stored  # the bytes really are the store's
    for code in codes:
        assert code.encode() not in stored and grouped(code).encode() not in stored
    events = line.platform.log.events.get(Device.create_id("L-1"))
    labels = [e for e in events if isinstance(e, Device.LabelIssued)]
    assert [(e.label, e.media, e.by) for e in labels] == [
        ("charger", "svg", "manufacturer@example.com"),
        ("charger", "png", "manufacturer@example.com"),
    ]


def test_who_may_do_what(line: LiveServer) -> None:
    with line.http(Role.USER) as http:
        assert http.post(BATCHES, json=batch("U", ["U-1"])).status_code == 403
        assert http.get(BATCHES).status_code == 403
    with line.http(Role.MANUFACTURER) as http:
        assert http.post(BATCHES, json=batch("M", ["M-1"])).status_code == 201
        assert http.get("/api/v1/chargers").status_code == 200
        for path in ("/api/v1/users", "/api/v1/transactions?user=someone@example.com", "/api/v1/webhooks"):
            assert http.get(path).status_code == 403, path
        assert http.get("/api/v1/users/me").json()["role"] == "manufacturer"


def test_two_platforms_importing_at_once_never_share_an_address(store_url: str, tmp_path: Path) -> None:
    nodes = [LiveServer(store_url, tmp_path / "data", mac_block=BLOCK).start() for _ in range(2)]
    try:
        answers: list[httpx.Response] = []
        clients = [node.http() for node in nodes]  # the operator is registered once, before the race

        def run(http: httpx.Client, name: str) -> None:
            with http:
                for n in range(3):
                    body = batch(f"{name}-{n}", [f"{name}{n}-{i:02d}" for i in range(40)])
                    answers.append(http.post(BATCHES, json=body, timeout=60))

        threads = [threading.Thread(target=run, args=(c, name)) for c, name in zip(clients, "AB", strict=True)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        nodes[0].settle()
        assert nodes[0].runtime is not None
        rows = nodes[0].runtime.fleet.list_chargers(presence=None, status=None, family=None, after=None, limit=1000)
        macs = [row["mac_address"] for row in rows]
        assert len(macs) == 240 and len(set(macs)) == 240
        pool = nodes[0].platform.log.load_or_none(MacPool.create_id())
        ranges = [r for batch_ranges in pool.allocations.values() for r in batch_ranges]
        starts = sorted(first for first, _ in ranges)
        assert len(ranges) == 6 and all(b - a >= 40 for a, b in zip(starts, starts[1:], strict=False))
    finally:
        for node in nodes:
            node.stop()
