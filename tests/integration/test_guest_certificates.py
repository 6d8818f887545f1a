"""Guest mode: a guest's short-lived certificate for one charger, its id token in that charger's list only, a
transaction with it charged to the guest and seen by the owners; renewal; revocation with the membership."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v201 import call

from adapters.auth import Role
from cloudbay_domain.transaction import Attribution
from tests.integration.test_charger_local_lists import entries, lists, until_version
from tests.ownership_support import pair, remove_member
from tests.pki_support import csr_pem, weak_rsa_csr
from tests.support import LiveServer, Station, station

OWNER, GUEST = "owner@example.com", "guest@example.com"
ISSUE = "/api/v1/chargers/{}/guest-certificates"


def der64(pem: str) -> str:
    """A PEM request as the API takes it: its base64 DER on one line."""
    return "".join(line for line in pem.splitlines() if not line.startswith("-----"))


def issue(server: LiveServer, email: str, station_id: str = "CB-G1", csr: str | None = None) -> Any:
    with server.http(Role.USER, email=email) as http:
        return http.post(ISSUE.format(station_id), json={"csr": csr or der64(csr_pem("anything"))})


async def authorize(cp: Station, value: str) -> str:
    answer = await cp.call(call.Authorize(id_token={"id_token": value, "type": "Central"}), suppress=False)
    return str(answer.id_token_info["status"])


def revoked_serials(server: LiveServer) -> set[int]:
    with server.http(role=None) as http:
        crl = x509.load_der_x509_crl(http.get("/api/v1/ca/crl.der").content)
    return {entry.serial_number for entry in crl}


@pytest.mark.parametrize("store_url", ["sqlite", "postgres"], indirect=True)
def test_a_guest_certificate_names_one_charger_and_its_token_is_trusted_there_only(pki: LiveServer) -> None:
    server = pki
    server.whitelist("CB-G1")
    server.whitelist("CB-G2")
    pair(server, "CB-G1", OWNER, guests=[GUEST])
    pair(server, "CB-G2", GUEST)  # the guest owns a charger of their own

    async def scenario() -> dict[str, Any]:
        async with station(server, "CB-G1") as here, station(server, "CB-G2") as elsewhere:
            await here.boot()
            await elsewhere.boot()
            issued = await asyncio.to_thread(issue, server, GUEST)
            assert issued.status_code == 201, issued.text
            token = issued.json()["id_token"]
            await until_version(here, 1)
            seen = {"here": await authorize(here, token), "elsewhere": await authorize(elsewhere, token)}
            await here.transaction_event(
                "Started", "tx-g", 0, trigger="Authorized", wh=0, id_token={"id_token": token, "type": "Central"}
            )
            renewed = await asyncio.to_thread(issue, server, GUEST)
            return {"issued": issued.json(), "renewed": renewed, "seen": seen, "here": here, "elsewhere": elsewhere}

    out = asyncio.run(scenario())
    body, token = out["issued"], out["issued"]["id_token"]
    leaf = x509.load_pem_x509_certificates(body["certificate_chain"].encode())[0]
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == token and token.startswith("GST")
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["urn:cloudbay:charger:CB-G1"]
    assert body["charger_uri"] == "urn:cloudbay:charger:CB-G1" and body["station_id"] == "CB-G1"
    assert ExtendedKeyUsageOID.CLIENT_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.not_valid_after_utc - datetime.now(UTC) <= timedelta(hours=24)  # short-lived
    assert out["seen"] == {"here": "Accepted", "elsewhere": "NotAtThisLocation"}
    assert entries(lists(out["here"])[-1]) == {token: "Accepted"}
    assert all(token not in entries(s) for s in lists(out["elsewhere"]))
    renewed = out["renewed"]
    assert renewed.status_code == 201 and renewed.json()["id_token"] == token
    assert renewed.json()["serial"] != body["serial"]
    tx = server.platform.transactions.get("CB-G1", "tx-g")
    assert tx.user == GUEST and tx.attribution is Attribution.GUEST
    server.settle()
    with server.http(Role.USER, email=OWNER) as owner:  # the owners see the guest's transaction
        assert [t["user"] for t in owner.get("/api/v1/transactions?charger=CB-G1").json()["items"]] == [GUEST]
        assert owner.get("/api/v1/chargers/CB-G1/transactions/tx-g").status_code == 200


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_a_revoked_guest_loses_the_certificates_and_the_token(pki: LiveServer) -> None:
    server = pki
    server.whitelist("CB-G3")
    pair(server, "CB-G3", OWNER, guests=[GUEST])

    async def scenario() -> tuple[list[dict[str, Any]], list[str], str]:
        async with station(server, "CB-G3") as cp:
            await cp.boot()
            serials = []
            for _ in range(2):
                issued = await asyncio.to_thread(issue, server, GUEST, "CB-G3")
                serials.append(issued.json()["serial"])
            token = issued.json()["id_token"]
            await until_version(cp, 1)
            await asyncio.to_thread(remove_member, server, "CB-G3", GUEST)  # the invitation no longer stands
            await until_version(cp, 2)
            assert await authorize(cp, token) == "Invalid"
            return lists(cp), serials, token

    sent, serials, token = asyncio.run(scenario())
    assert [(s["update_type"], entries(s)) for s in sent] == [
        ("Full", {token: "Accepted"}),
        ("Differential", {token: None}),
    ]
    assert {int(s, 16) for s in serials} <= revoked_serials(server)
    again = issue(server, GUEST, "CB-G3")  # no longer a guest: a stranger to the charger
    assert again.status_code == 404 and again.json()["detail"] == "no charger CB-G3"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_guest_certificate_refusals(pki: LiveServer) -> None:
    server = pki
    server.whitelist("CB-G4")
    pair(server, "CB-G4", OWNER, co_owners=["co@example.com"], guests=[GUEST])
    for email in (OWNER, "co@example.com", GUEST, "stranger@example.com"):
        server.token(email, Role.USER)  # the callers' accounts exist before
    server.token()
    before = server.head()
    assert issue(server, OWNER, "CB-G4").status_code == 403  # owners charge with their cards and the app
    assert issue(server, "co@example.com", "CB-G4").status_code == 403
    assert issue(server, "stranger@example.com", "CB-G4").status_code == 404
    with server.http() as operator:
        assert operator.post(ISSUE.format("CB-G4"), json={"csr": der64(csr_pem("x"))}).status_code == 403
    weak = issue(server, GUEST, "CB-G4", der64(weak_rsa_csr("x")))
    assert weak.status_code == 422 and weak.json()["reason"] == "UnsupportedKey"
    garbage = issue(server, GUEST, "CB-G4", "not a csr")
    assert garbage.status_code == 422 and garbage.json()["reason"] == "InvalidCSR"
    with server.http(Role.USER, email=GUEST) as http:
        assert http.post(ISSUE.format("CB-G4"), json={}).status_code == 422
    assert server.head() == before  # nothing written
