"""PKI test helpers: keys and CSRs made in the test, a charger that installs the certificate it is sent."""

from __future__ import annotations

import asyncio
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID
from ocpp.routing import on
from ocpp.v201 import call, call_result
from ocpp.v201.enums import Action

from tests.support import LiveServer, Station

PASSPHRASE = "correct horse battery staple"


def csr_pem(cn: str | None, org: str | None = "CloudBay", key: Any = None) -> str:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attributes = []
    if org is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn is not None:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attributes)).sign(key, algorithm)
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def badly_signed_csr(cn: str) -> str:
    """A well-formed CSR whose signature does not verify (its last byte changed)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = bytearray(x509.load_pem_x509_csr(csr_pem(cn, key=key).encode()).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM).decode()


def weak_rsa_csr(cn: str) -> str:
    return csr_pem(cn, key=rsa.generate_private_key(public_exponent=65537, key_size=1024))


def chain_of(pem: str) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(pem.encode())


class EnrollingStation(Station):
    """A charger that sends SignCertificate and installs (or, told to, rejects) the certificate sent back."""

    install_answer = "Accepted"

    @on(Action.certificate_signed)
    async def on_certificate_signed(self, certificate_chain: str, **kwargs: Any) -> Any:
        await self._answer("CertificateSigned", {"certificate_chain": certificate_chain, **kwargs})
        return call_result.CertificateSigned(status=self.install_answer)

    @on(Action.trigger_message)
    async def on_trigger_message(self, requested_message: str, **kwargs: Any) -> Any:
        await self._answer("TriggerMessage", {"requested_message": requested_message, **kwargs})
        return call_result.TriggerMessage(status="Accepted")

    async def sign_certificate(self, csr: str, certificate_type: str | None = None) -> Any:
        return await self.call(call.SignCertificate(csr=csr, certificate_type=certificate_type), suppress=False)


async def installed(server: LiveServer) -> None:
    """Wait (without blocking the charger's loop) until a charger's answer to CertificateSigned is recorded."""
    for _ in range(500):
        if await asyncio.to_thread(lambda: server.platform.certificates.authority().installed):
            return
        await asyncio.sleep(0.02)
    raise AssertionError("no answer to CertificateSigned was recorded")
