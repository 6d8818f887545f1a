"""Enrolment (A02/A03) and revocation over a real WebSocket and real HTTP, on SQLite and PostgreSQL: the ``ocpp``
library's charger sends SignCertificate and installs the CertificateSigned it gets; bad CSRs are refused."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from ocpp.v201 import call

from cloudbay_domain.certificates import CertificateAuthority
from tests.manufacturing_support import box_payload, raw_store_bytes
from tests.pki_support import (
    PASSPHRASE,
    EnrollingStation,
    badly_signed_csr,
    chain_of,
    csr_pem,
    installed,
    weak_rsa_csr,
)
from tests.support import LiveServer, station, wait_until


def renewals(server: LiveServer) -> list[CertificateAuthority.RenewalRequested]:
    events = server.platform.log.events.get(CertificateAuthority.create_id())
    return [e for e in events if isinstance(e, CertificateAuthority.RenewalRequested)]


def certificates(http: httpx.Client, station_id: str) -> list[dict[str, object]]:
    answer = http.get(f"/api/v1/chargers/{station_id}/certificates")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, object]] = answer.json()["items"]
    return items


def test_a_manufactured_charger_enrols_and_is_revoked(pki: LiveServer) -> None:
    async def enrol_then_revoke() -> tuple[Any, list[tuple[str, dict[str, Any]]], int | None]:
        async with station(pki, "EN-1", EnrollingStation) as cp:
            answer = await cp.sign_certificate(csr_pem("EN-1"), "ChargingStationCertificate")
            await installed(pki)
            with pki.http() as http:
                revoked = await asyncio.to_thread(http.post, "/api/v1/chargers/EN-1/certificate/revoke", json={})
                assert revoked.status_code == 200, revoked.text
            await asyncio.wait_for(cp._connection.wait_closed(), 10)
            return answer, cp.received, cp._connection.close_code

    answer, received, close_code = asyncio.run(enrol_then_revoke())
    assert answer.status == "Accepted" and close_code == 1008
    (action, sent), *_ = received
    assert action == "CertificateSigned" and sent["certificate_type"] == "ChargingStationCertificate"
    leaf, issuing = chain_of(str(sent["certificate_chain"]))
    assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "EN-1"
    leaf.verify_directly_issued_by(issuing)
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    serial = format(leaf.serial_number, "x")
    with pki.http() as http, httpx.Client(base_url=pki.base_url) as anonymous:
        assert http.get("/api/v1/chargers/EN-1/device").json()["state"] == "enrolled"
        (listed,) = certificates(http, "EN-1")
        assert listed["serial"] == serial and listed["revoked"] is True
        assert http.post("/api/v1/chargers/EN-1/certificate/revoke", json={}).status_code == 409
        release = {"box_code": box_payload(http, "EN-1")}
        assert http.post("/api/v1/chargers/EN-1/release", json=release).json()["state"] == "enrolled"  # not ready
        early = http.post("/api/v1/chargers/EN-1/release", json={**release, "allow_unenrolled": True})
        assert early.status_code == 200 and early.json()["state"] == "released"
        chain = anonymous.get("/api/v1/ca/chain.pem")
        assert chain.status_code == 200 and chain_of(chain.text)[0] == issuing
        crl = x509.load_der_x509_crl(anonymous.get("/api/v1/ca/crl.der").content)
        assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
        assert [r.serial_number for r in crl] == [leaf.serial_number]
    assert pki.platform.certificates.is_revoked(serial) and pki.platform.certificates.is_revoked(leaf.serial_number)
    found = pki.platform.certificates.certificate_for(listed["fingerprint"])  # type: ignore[arg-type]
    assert found is not None and found.station_id == "EN-1"
    stored = raw_store_bytes(pki)
    key = (pki.settings.pki.directory / "issuing-key.pem").read_bytes()
    plain = serialization.load_pem_private_key(key, PASSPHRASE.encode())
    assert isinstance(plain, ec.EllipticCurvePrivateKey)
    scalar = plain.private_numbers().private_value.to_bytes(32, "big")
    assert b"PRIVATE KEY" not in stored and key[40:80] not in stored
    assert scalar not in stored and scalar.hex().encode() not in stored and PASSPHRASE.encode() not in stored


BAD_REQUESTS = [
    (lambda: csr_pem("EN-9"), None, "InvalidSubject"),
    (lambda: csr_pem("EN-2", org="Other"), None, "InvalidSubject"),
    (lambda: weak_rsa_csr("EN-2"), None, "UnsupportedKey"),
    (lambda: badly_signed_csr("EN-2"), None, "InvalidCSR"),
    (lambda: "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", None, "InvalidCSR"),
    (lambda: csr_pem("EN-2"), "V2GCertificate", "UnsupportedType"),
]


def test_bad_requests_are_rejected_and_nothing_is_issued(pki: LiveServer) -> None:
    async def ask() -> list[tuple[str, str]]:
        async with station(pki, "EN-2", EnrollingStation) as cp:
            answers = [await cp.sign_certificate(make(), kind) for make, kind, _ in BAD_REQUESTS]
            await asyncio.sleep(0.1)
            assert cp.received == []  # no CertificateSigned
            return [(a.status, a.status_info["reason_code"]) for a in answers]

    assert asyncio.run(ask()) == [("Rejected", reason) for _, _, reason in BAD_REQUESTS]
    ca_id = CertificateAuthority.create_id()
    refused = [e for e in pki.platform.log.events.get(ca_id) if isinstance(e, CertificateAuthority.SigningRefused)]
    assert [(e.station_id, e.reason) for e in refused] == [("EN-2", reason) for _, _, reason in BAD_REQUESTS]
    assert pki.platform.certificates.authority().of_station("EN-2") == []
    with pki.http() as http:
        assert certificates(http, "EN-2") == []
        assert http.get("/api/v1/chargers/EN-2/device").json()["state"] == "manufactured"
        assert http.post("/api/v1/chargers/EN-2/certificate/revoke", json={}).status_code == 409
        assert http.get("/api/v1/chargers/NOPE/certificates").status_code == 404

    async def unable() -> str:  # a charger that cannot install certificates answers CertificateSigned NotImplemented
        async with station(pki, "EN-1") as cp:
            answer = await cp.call(call.SignCertificate(csr=csr_pem("EN-1")), suppress=False)
            await installed(pki)
            return str(answer.status)

    assert asyncio.run(unable()) == "Accepted"
    assert list(pki.platform.certificates.authority().installed.values()) == ["NotImplemented"]
    with pki.http() as http:
        assert http.get("/api/v1/chargers/EN-1/device").json()["state"] == "manufactured"


def test_a_charger_that_rejects_the_certificate_stays_manufactured(pki: LiveServer) -> None:
    async def enrol() -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        async with station(pki, "EN-2", EnrollingStation, install_answer="Rejected") as cp:
            answer = await cp.sign_certificate(csr_pem("EN-2"))
            await installed(pki)
            await cp.boot()  # its certificate expires within the renewal window: it is asked for a new CSR
            for _ in range(500):
                if len(cp.received) > 1:
                    break
                await asyncio.sleep(0.02)
            return str(answer.status), cp.received

    status, received = asyncio.run(enrol())
    assert status == "Accepted" and [action for action, _ in received] == ["CertificateSigned", "TriggerMessage"], (
        received
    )
    assert received[1][1]["requested_message"] == "SignChargingStationCertificate"
    wait_until(lambda: bool(renewals(pki)), timeout=10)
    assert [(e.station_id, e.status) for e in renewals(pki)] == [("EN-2", "Accepted")]
    assert list(pki.platform.certificates.authority().installed.values()) == ["Rejected"]
    with pki.http(None) as anonymous:
        assert anonymous.get("/api/v1/chargers/EN-2/certificates").status_code == 401
    with pki.http() as http:
        assert http.get("/api/v1/chargers/EN-2/device").json()["state"] == "manufactured"
        (issued,) = certificates(http, "EN-2")
        assert issued["revoked"] is False
        assert http.post("/api/v1/chargers/EN-2/scrap", json={"reason": "failed test"}).status_code == 200
        assert certificates(http, "EN-2") == [{**issued, "revoked": True}]  # revoked with the device
