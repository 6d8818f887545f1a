"""Pairing a charger by its two QR codes (POST /api/v1/pairings), on SQLite and PostgreSQL: the first claim
makes the owner, a second one is 409; wrong codes are 403 revealing nothing; repeated failures lock the caller
and the charger (429, Retry-After); unreleased and scrapped chargers are refused; every attempt is audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.auth import Role
from cloudbay_domain.codes import BOX, PAIRING, payload
from tests.manufacturing_support import BLOCK, batch, decode_png
from tests.pairing_support import app_user, pair, pairing_body, release, security_kinds
from tests.support import LiveServer

MAX_FAILURES = 3


@pytest.fixture
def paired_line(store_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    live = LiveServer(store_url, tmp_path / "data", mac_block=BLOCK, pairing_max_failures=MAX_FAILURES).start()
    try:
        yield live
    finally:
        live.stop()


def test_the_label_codes_pair_the_charger_and_a_second_claim_is_told_to_ask_for_an_invitation(
    paired_line: LiveServer,
) -> None:
    release(paired_line, "PA-1")
    with paired_line.http() as operator:  # the label's QR codes, as the app scans them
        (charger_qr,) = decode_png(operator.get("/api/v1/chargers/PA-1/labels/charger.png").content)
        (box_qr,) = decode_png(operator.get("/api/v1/chargers/PA-1/labels/box.png").content)
    with app_user(paired_line, "ann@example.com") as ann:
        paired = ann.post("/api/v1/pairings", json={"charger_code": charger_qr, "box_code": box_qr})
        assert paired.status_code == 201, paired.text
        assert paired.json()["station_id"] == "PA-1" and paired.json()["role"] == "owner"
        assert paired.headers["Location"] == "/api/v1/chargers/PA-1/members"
        members = ann.get("/api/v1/chargers/PA-1/members").json()["items"]
        assert [(m["member"], m["role"]) for m in members] == [("ann@example.com", "owner")]
        assert ann.get("/api/v1/chargers/PA-1/members/me").json()["role"] == "owner"
    with app_user(paired_line, "bob@example.com") as bob:
        again = bob.post("/api/v1/pairings", json={"charger_code": charger_qr, "box_code": box_qr})
        assert again.status_code == 409 and "invitation" in again.json()["detail"]
        assert again.json()["reason"] == "AlreadyPaired"
        assert bob.get("/api/v1/chargers/PA-1/members").status_code == 404  # no member: not told it exists
    assert paired_line.runtime is not None
    assert paired_line.runtime.members.role_on("PA-1", "ann@example.com") == "owner"
    assert paired_line.runtime.members.role_on("PA-1", "bob@example.com") is None
    audit = security_kinds(paired_line, "PA-1")
    assert "PairingAttempt: ann@example.com: paired" in audit
    assert "PairingAttempt: bob@example.com: already-paired" in audit


def test_wrong_codes_are_refused_alike_and_recorded(paired_line: LiveServer) -> None:
    codes = release(paired_line, "PW-1", "PW-2")
    right, other = codes["PW-1"], codes["PW-2"]
    wrong_pairing = payload(PAIRING, "PW-1", "0" * 16)
    wrong_box = payload(BOX, "PW-1", "0" * 20)
    attempts = [
        pairing_body(right, charger_code=wrong_pairing),  # the charger's code wrong
        pairing_body(right, box_code=wrong_box),  # the box code wrong
        pairing_body(right, box_code=other.box_payload),  # another charger's box
    ]
    refusals = []
    for n, body in enumerate(attempts):  # three callers: no lock of a caller on the way
        with app_user(paired_line, f"guesser{n}@example.com") as http:
            refused = http.post("/api/v1/pairings", json=body)
            assert refused.status_code in (403, 429), refused.text
            refusals.append(refused)
    first, second = refusals[0].json(), refusals[1].json()
    assert first == second and refusals[0].status_code == 403  # nothing tells which code was wrong
    assert refusals[2].status_code == 429  # the charger's third failure locked it
    with app_user(paired_line, "elsewhere@example.com") as http:
        for body in (
            {"charger_code": "not a code", "box_code": "nor this"},
            pairing_body(right, charger_code=payload(PAIRING, "NO-SUCH", "0" * 16)),  # an unknown charger
        ):
            refused = http.post("/api/v1/pairings", json=body)
            assert refused.status_code == 403 and refused.json()["detail"] == first["detail"]
    assert sum(": wrong-codes" in kind for kind in security_kinds(paired_line, "PW-1")) == 3
    assert paired_line.runtime is not None
    assert paired_line.runtime.members.members_of("PW-1") == []


def test_repeated_failures_lock_the_caller_then_the_lock_ends(paired_line: LiveServer) -> None:
    codes = release(paired_line, "PL-1", "PL-2")
    assert paired_line.runtime is not None
    ownerships = paired_line.runtime.ownerships
    with app_user(paired_line, "mallory@example.com") as http:
        for n in range(MAX_FAILURES):  # each on another charger's code: the caller's lock, not a charger's
            station = "PL-1" if n % 2 else "PL-2"
            wrong = pairing_body(codes[station], box_code=payload(BOX, station, f"{n}" * 20))
            status = http.post("/api/v1/pairings", json=wrong).status_code
            assert status == (429 if n == MAX_FAILURES - 1 else 403)
        locked = http.post("/api/v1/pairings", json=pairing_body(codes["PL-1"]))  # even the right codes
        assert locked.status_code == 429 and locked.json()["reason"] == "Locked"
        assert 0 < int(locked.headers["Retry-After"]) <= 900
        assert paired_line.runtime.members.members_of("PL-1") == []
        later = datetime.now(UTC) + timedelta(seconds=901)
        ownerships.clock = lambda: later
        assert http.post("/api/v1/pairings", json=pairing_body(codes["PL-1"])).status_code == 201
    assert any("mallory@example.com: locked" in kind for kind in security_kinds(paired_line, "PL-1"))


def test_only_a_released_charger_can_be_paired(paired_line: LiveServer) -> None:
    with paired_line.http() as operator:
        assert operator.post("/api/v1/production-batches", json=batch("PU", ["PU-1", "PU-2"])).status_code == 201
        assert operator.post("/api/v1/chargers/PU-2/scrap", json={"reason": "cracked case"}).status_code == 200
    assert paired_line.runtime is not None
    for station, state in (("PU-1", "manufactured"), ("PU-2", "scrapped")):
        _, codes = paired_line.runtime.pipeline.label(station, "box", "png", "test")
        refused = pair(paired_line, "early@example.com", codes)
        assert refused.status_code == 409 and refused.json()["state"] == state, refused.text
        assert paired_line.runtime.members.members_of(station) == []
        assert "PairingAttempt: early@example.com: not-pairable" in security_kinds(paired_line, station)


def test_pairing_is_for_signed_in_app_users_with_a_well_formed_body(paired_line: LiveServer) -> None:
    codes = release(paired_line, "PB-1")["PB-1"]
    with paired_line.http(role=None) as anonymous:
        assert anonymous.post("/api/v1/pairings", json=pairing_body(codes)).status_code == 401
    for role in (Role.OPERATOR, Role.MANUFACTURER):
        with paired_line.http(role) as http:
            assert http.post("/api/v1/pairings", json=pairing_body(codes)).status_code == 403
    with app_user(paired_line, "ann@example.com") as http:
        assert http.post("/api/v1/pairings", json={"charger_code": codes.charger_payload}).status_code == 422
        assert http.post("/api/v1/pairings", json={**pairing_body(codes), "extra": 1}).status_code == 422
        assert http.post("/api/v1/pairings", content=b"{nope").status_code == 400
    assert paired_line.runtime is not None
    assert paired_line.runtime.members.members_of("PB-1") == []
