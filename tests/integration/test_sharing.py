"""Sharing a paired charger, on SQLite and PostgreSQL, with invitations mailed to a real SMTP server over
STARTTLS: single-use, expiring, for their address only; members listed, changed and removed by owners; owners
of one charger see nothing of another; transfer and unpairing; every refusal changes nothing and is audited."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli.main import app as cli
from services.ownership import token_hash
from tests.manufacturing_support import BLOCK, raw_store_bytes
from tests.pairing_support import Inbox, app_user, pair, release, security_kinds, smtp_server
from tests.support import LiveServer

ANN, BOB, SAM, DAN = "ann@example.com", "bob@example.com", "sam@example.com", "dan@example.com"


@pytest.fixture
def sharing(store_url: str, tmp_path: Path) -> Iterator[tuple[LiveServer, Inbox]]:
    with smtp_server(tmp_path / "smtp") as (url, ca, inbox):
        live = LiveServer(store_url, tmp_path / "data", mac_block=BLOCK, smtp_url=url, smtp_ca=ca).start()
        try:
            codes = release(live, "SH-1", "SH-2")
            assert pair(live, ANN, codes["SH-1"]).status_code == 201
            yield live, inbox
        finally:
            live.stop()


def members(server: LiveServer, station_id: str) -> list[tuple[str, str]]:
    with server.http() as operator:
        items = operator.get(f"/api/v1/chargers/{station_id}/members").json()["items"]
    return [(m["member"], m["role"]) for m in items]


def invite(server: LiveServer, inbox: Inbox, by: str, email: str, role: str, station_id: str = "SH-1") -> str:
    with app_user(server, by) as http:
        answer = http.post(f"/api/v1/chargers/{station_id}/invitations", json={"email": email, "role": role})
        assert answer.status_code == 201, answer.text
    return inbox.token_for(email)


def accept(server: LiveServer, email: str, token: str) -> int:
    with app_user(server, email) as http:
        return http.post(f"/api/v1/invitations/{token}/accept").status_code


def test_an_invitation_is_mailed_and_accepted_once_by_its_address_only(sharing: tuple[LiveServer, Inbox]) -> None:
    server, inbox = sharing
    with app_user(server, ANN) as ann:
        sent = ann.post("/api/v1/chargers/SH-1/invitations", json={"email": "Sam@Example.com", "role": "guest"})
        assert sent.status_code == 201, sent.text
        assert sent.json()["email"] == SAM and sent.json()["state"] == "open"
    token = inbox.token_for(SAM)
    assert inbox.tls[-1] is True  # handed over after STARTTLS
    assert sent.json()["invitation_id"] == token_hash(token) and token not in sent.text
    with app_user(server, BOB) as bob:
        wrong = bob.post(f"/api/v1/invitations/{token}/accept")
        assert wrong.status_code == 403 and wrong.json()["reason"] == "WrongInvitee"
        assert bob.post(f"/api/v1/invitations/{token[:-4]}AAAA/accept").status_code == 404
        assert bob.post("/api/v1/invitations/not-a-token/accept").status_code == 404
    assert members(server, "SH-1") == [(ANN, "owner")]
    with app_user(server, SAM) as sam:
        joined = sam.post(f"/api/v1/invitations/{token}/accept")
        assert joined.status_code == 200 and joined.json() == {
            "station_id": "SH-1",
            "role": "guest",
            "_links": {"members": {"href": "/api/v1/chargers/SH-1/members"}},
        }
        replayed = sam.post(f"/api/v1/invitations/{token}/accept")
        assert replayed.status_code == 409 and replayed.json()["reason"] == "InvitationUsed"
    assert members(server, "SH-1") == [(ANN, "owner"), (SAM, "guest")]
    audit = security_kinds(server, "SH-1")
    assert any(f"{BOB} accepts" in kind and "WrongInvitee" in kind for kind in audit)
    assert any(f"{SAM} accepts" in kind and "InvitationNotOpen" in kind for kind in audit)
    assert token.encode() not in raw_store_bytes(server)  # only its hash is kept


def test_an_expired_invitation_is_gone_and_expiry_is_checked(sharing: tuple[LiveServer, Inbox]) -> None:
    server, inbox = sharing
    soon = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    with app_user(server, ANN) as ann:
        body = {"email": SAM, "role": "co-owner", "expires_at": soon}
        assert ann.post("/api/v1/chargers/SH-1/invitations", json=body).status_code == 201
        too_late = (datetime.now(UTC) + timedelta(days=31)).isoformat()
        for bad in ("2020-01-01T00:00:00Z", "2030-01-01T00:00:00", too_late):
            refused = ann.post("/api/v1/chargers/SH-1/invitations", json={**body, "expires_at": bad})
            assert refused.status_code == 422, (bad, refused.text)
    token = inbox.token_for(SAM)
    assert server.runtime is not None
    later = datetime.now(UTC) + timedelta(hours=2)
    server.runtime.ownerships.clock = lambda: later
    assert accept(server, SAM, token) == 410
    assert members(server, "SH-1") == [(ANN, "owner")]
    assert any(f"{SAM} accepts" in kind and "InvitationExpired" in kind for kind in security_kinds(server, "SH-1"))


def test_owners_manage_members_and_the_owner_moves_only_by_transfer(sharing: tuple[LiveServer, Inbox]) -> None:
    server, inbox = sharing
    assert accept(server, SAM, invite(server, inbox, ANN, SAM, "co-owner")) == 200
    assert accept(server, DAN, invite(server, inbox, SAM, DAN, "guest")) == 200  # a co-owner invites too
    with app_user(server, DAN) as dan:  # a guest sees the members and manages none
        assert dan.get("/api/v1/chargers/SH-1/members").status_code == 200
        assert dan.post("/api/v1/chargers/SH-1/invitations", json={"email": BOB, "role": "guest"}).status_code == 403
        assert dan.patch(f"/api/v1/chargers/SH-1/members/{SAM}", json={"role": "guest"}).status_code == 403
        assert dan.post("/api/v1/chargers/SH-1/unpair", json={}).status_code == 403
    with app_user(server, ANN) as ann:
        yourself = ann.post("/api/v1/chargers/SH-1/invitations", json={"email": ANN, "role": "guest"})
        assert yourself.status_code == 409 and yourself.json()["reason"] == "AlreadyMember"
        assert ann.post("/api/v1/chargers/SH-1/invitations", json={"email": SAM, "role": "guest"}).status_code == 409
        owner_role = ann.post("/api/v1/chargers/SH-1/invitations", json={"email": BOB, "role": "owner"})
        assert owner_role.status_code == 422  # ownership moves by a transfer
        assert ann.patch(f"/api/v1/chargers/SH-1/members/{DAN}", json={"role": "owner"}).status_code == 422
        changed = ann.patch(f"/api/v1/chargers/SH-1/members/{DAN}", json={"role": "co-owner"})
        assert changed.status_code == 200 and changed.json()["role"] == "co-owner"
        assert ann.delete("/api/v1/chargers/SH-1/members/me").json()["reason"] == "LastOwner"
    with app_user(server, SAM) as sam:
        assert sam.delete(f"/api/v1/chargers/SH-1/members/{ANN}").status_code == 409
        assert sam.patch(f"/api/v1/chargers/SH-1/members/{ANN}", json={"role": "guest"}).status_code == 409
        assert sam.delete(f"/api/v1/chargers/SH-1/members/{DAN}").status_code == 204
        assert sam.delete("/api/v1/chargers/SH-1/members/me").status_code == 204  # leaves
    assert members(server, "SH-1") == [(ANN, "owner")]
    audit = security_kinds(server, "SH-1")
    assert sum("LastOwner" in kind for kind in audit) == 3
    assert any(f"{ANN} invites {ANN}" in kind and "AlreadyMember" in kind for kind in audit)
    assert any(f"{DAN} invites {BOB}" in kind and "NotAllowed" in kind for kind in audit)


def test_the_owner_of_one_charger_cannot_reach_another(sharing: tuple[LiveServer, Inbox]) -> None:
    server, _ = sharing
    with app_user(server, BOB) as bob:  # bob owns SH-2, nothing of SH-1
        codes = server.runtime.pipeline.label("SH-2", "box", "png", "test")[1]  # type: ignore[union-attr]
        assert bob.post("/api/v1/pairings", json={"charger_code": codes.charger_payload,
                                                 "box_code": codes.box_payload}).status_code == 201  # fmt: skip
        for answer in (
            bob.get("/api/v1/chargers/SH-1/members"),
            bob.get(f"/api/v1/chargers/SH-1/members/{ANN}"),
            bob.get("/api/v1/chargers/SH-1/invitations"),
            bob.post("/api/v1/chargers/SH-1/invitations", json={"email": DAN, "role": "guest"}),
            bob.patch(f"/api/v1/chargers/SH-1/members/{ANN}", json={"role": "guest"}),
            bob.delete(f"/api/v1/chargers/SH-1/members/{ANN}"),
            bob.post("/api/v1/chargers/SH-1/transfer", json={"email": BOB}),
            bob.post("/api/v1/chargers/SH-1/unpair", json={}),
            bob.get("/api/v1/chargers/NO-SUCH/members"),
        ):
            assert answer.status_code == 404, answer.text
    assert members(server, "SH-1") == [(ANN, "owner")]
    assert sum(f"{BOB}" in kind and "NotAMember" in kind for kind in security_kinds(server, "SH-1")) == 5


def test_transfer_then_unpair_clears_members_and_keeps_the_history(sharing: tuple[LiveServer, Inbox]) -> None:
    server, inbox = sharing
    assert server.runtime is not None
    changed: list[str] = []
    server.runtime.ownerships.add_listener(changed.append)
    with app_user(server, ANN) as ann:
        offered = ann.post("/api/v1/chargers/SH-1/transfer", json={"email": BOB})
        assert offered.status_code == 201 and offered.json()["role"] == "owner"
    assert accept(server, BOB, inbox.token_for(BOB)) == 200
    assert members(server, "SH-1") == [(BOB, "owner"), (ANN, "co-owner")]
    with app_user(server, ANN) as ann:
        assert ann.post("/api/v1/chargers/SH-1/unpair", json={}).status_code == 403
    with app_user(server, BOB) as bob:
        assert bob.post("/api/v1/chargers/SH-1/unpair").status_code == 204  # the body is optional
        assert bob.get("/api/v1/chargers/SH-1/members").status_code == 404
    assert members(server, "SH-1") == [] and changed == ["SH-1", "SH-1"]
    periods = server.runtime.members.member_periods("SH-1")
    assert [(p["member"], p["role"], p["until"] is not None) for p in periods] == [
        (ANN, "owner", True),
        (ANN, "co-owner", True),
        (BOB, "owner", True),
    ]
    codes = server.runtime.pipeline.label("SH-1", "box", "png", "test")[1]
    assert pair(server, DAN, codes).status_code == 201  # a reset charger pairs again
    with server.http() as operator:
        assert operator.post("/api/v1/chargers/SH-1/unpair", json={}).status_code == 204
        assert operator.post("/api/v1/chargers/SH-1/unpair", json={}).json()["reason"] == "NotPaired"
    assert changed == ["SH-1"] * 4


def test_an_invitation_that_cannot_be_mailed_is_revoked(store_url: str, tmp_path: Path) -> None:
    with smtp_server(tmp_path / "smtp") as (url, ca, _):
        closed = url.rsplit(":", 1)[0] + ":1"  # nothing listens there
    live = LiveServer(store_url, tmp_path / "data", mac_block=BLOCK, smtp_url=closed, smtp_ca=ca).start()
    try:
        assert pair(live, ANN, release(live, "SM-1")["SM-1"]).status_code == 201
        with app_user(live, ANN) as ann:
            failed = ann.post("/api/v1/chargers/SM-1/invitations", json={"email": SAM, "role": "guest"})
            assert failed.status_code == 502 and failed.json()["reason"] == "MailNotSent"
            assert ann.get("/api/v1/chargers/SM-1/invitations").json()["items"] == []
    finally:
        live.stop()


def test_without_smtp_the_outbox_holds_the_mail_and_the_cli_reads_it(store_url: str, tmp_path: Path) -> None:
    live = LiveServer(store_url, tmp_path / "data", mac_block=BLOCK).start()
    try:
        assert pair(live, ANN, release(live, "SO-1")["SO-1"]).status_code == 201
        with app_user(live, ANN) as ann:
            sent = ann.post("/api/v1/chargers/SO-1/invitations", json={"email": SAM, "role": "guest"})
            assert sent.status_code == 201
        env = {"CLOUDBAY_DATA_DIR": str(tmp_path / "data"), "CLOUDBAY_DATABASE_URL": store_url}
        listed = CliRunner().invoke(cli, ["outbox"], env=env)
        assert listed.exit_code == 0 and SAM in listed.output and "Invitation to charger SO-1" in listed.output
        shown = CliRunner().invoke(cli, ["outbox", "--last"], env=env)
        assert shown.exit_code == 0 and "cloudbay://invitation?token=" in shown.output
        token = shown.output.split("token=")[1].split()[0]
        assert accept(live, SAM, token) == 200
        assert CliRunner().invoke(cli, ["outbox", "7"], env=env).exit_code == 1
    finally:
        live.stop()
