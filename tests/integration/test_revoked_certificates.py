"""A revoked certificate is refused at the upgrade, end to end over real TLS on SQLite and PostgreSQL: the
platform's own CA serves the server certificate and is the client CA; a charger enrols over profile 2, connects
with its new certificate over profile 3, is revoked over REST (its session is closed) and is then refused."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.pki.authority import FileAuthority
from adapters.pki.settings import CaSettings
from tests.integration.test_security_profiles import basic, configure, kinds, refused
from tests.pki_support import PASSPHRASE, EnrollingStation, csr_pem
from tests.support import LiveServer, station
from tests.tls_support import Issued, issue


@dataclass
class Platform:
    server: LiveServer
    ca_dir: Path
    operator_ca: Issued  # another CA the operator trusts for client certificates too


@pytest.fixture
def platform(store_url: str, tmp_path: Path) -> Iterator[Platform]:
    """A server whose TLS certificate comes from its own CA, which is also the client CA (with an operator's)."""
    ca = CaSettings(directory=tmp_path / "data" / "ca", passphrase=PASSPHRASE)
    authority = FileAuthority(ca)
    authority.init()
    authority.server_certificate(["127.0.0.1", "localhost"])
    operator_ca = issue("Operator chargers CA", ca=True)
    bundle = tmp_path / "client-ca.pem"
    bundle.write_bytes((ca.directory / "chain.pem").read_bytes() + operator_ca.cert.public_bytes(PEM))
    live = LiveServer(
        store_url,
        tmp_path / "data",
        ca=ca,
        tls_cert=ca.directory / "server.pem",
        tls_key=ca.directory / "server-key.pem",
        tls_client_ca=bundle,
    ).start()
    try:
        yield Platform(live, ca.directory, operator_ca)
    finally:
        live.stop()


PEM = serialization.Encoding.PEM


def context(ca_dir: Path, chain: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A charger's TLS context trusting the platform's root, presenting ``chain`` (leaf first) if given."""
    trusting = ssl.create_default_context(cafile=str(ca_dir / "root.pem"))
    if chain is not None:
        trusting.load_cert_chain(str(chain), str(key))
    return trusting


def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.private_bytes(PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return path


def same_serial(serial: int, cn: str, issuer: Issued) -> Issued:
    """A certificate from ``issuer`` for ``cn`` that happens to carry ``serial``."""
    made = issue(cn, issuer)
    builder = (
        x509.CertificateBuilder()
        .subject_name(made.cert.subject)
        .issuer_name(issuer.cert.subject)
        .public_key(made.key.public_key())
        .serial_number(serial)
        .not_valid_before(made.cert.not_valid_before_utc)
        .not_valid_after(made.cert.not_valid_after_utc)
    )
    return Issued(builder.sign(issuer.key, hashes.SHA256()), made.key)


async def enrol(server: LiveServer, url: str, trusting: ssl.SSLContext, password: str, key: Any) -> str:
    """SignCertificate over profile 2; the chain CertificateSigned delivered."""
    options = {"ssl": trusting, "additional_headers": basic("RV-1", password)}
    async with station(url, "RV-1", EnrollingStation, connect_options=options) as cp:
        assert (await cp.sign_certificate(csr_pem("RV-1", key=key))).status == "Accepted"
        for _ in range(500):
            if cp.received:
                return str(cp.received[0][1]["certificate_chain"])
            await asyncio.sleep(0.02)
    raise AssertionError("no CertificateSigned arrived")


def test_a_revoked_certificate_is_refused_at_the_upgrade(platform: Platform, tmp_path: Path) -> None:
    server, ca_dir = platform.server, platform.ca_dir
    password = configure(server, "RV-1", 2)
    url, key = server.wss_url("RV-1"), ec.generate_private_key(ec.SECP256R1())
    chain_pem = asyncio.run(enrol(server, url, context(ca_dir), password, key))
    chain = tmp_path / "rv-1.pem"
    chain.write_text(chain_pem)
    certified = context(ca_dir, chain, write_key(tmp_path / "rv-1.key", key))
    with server.http() as http:
        assert http.put("/api/v1/chargers/RV-1/security", json={"profile": 3}).status_code == 200

    async def connect_then_revoke() -> int | None:
        async with station(url, "RV-1", connect_options={"ssl": certified}) as cp:
            assert (await cp.boot()).status == "Accepted"
            with server.http() as http:
                answer = await asyncio.to_thread(http.post, "/api/v1/chargers/RV-1/certificate/revoke", json={})
                assert answer.status_code == 200, answer.text
            await asyncio.wait_for(cp._connection.wait_closed(), 10)
            return int(cp._connection.close_code)

    assert asyncio.run(connect_then_revoke()) == 1008
    assert asyncio.run(refused(url, context=certified)) == 403
    assert kinds(server, "RV-1") == [("RevokedCertificate", 1)]

    # the operator's CA is not ours: its certificate is not in our list, even with the revoked serial
    leaf = x509.load_pem_x509_certificates(chain_pem.encode())[0]
    assert server.platform.certificates.is_revoked(leaf.serial_number)
    theirs = same_serial(leaf.serial_number, "RV-1", platform.operator_ca)
    own_cert, own_key = theirs.write(tmp_path, "operator-rv-1")

    async def boots_with_the_operators_certificate() -> bool:
        async with station(url, "RV-1", connect_options={"ssl": context(ca_dir, own_cert, own_key)}) as cp:
            return bool((await cp.boot()).status == "Accepted")

    assert asyncio.run(boots_with_the_operators_certificate())
    assert kinds(server, "RV-1") == [("RevokedCertificate", 1)]
