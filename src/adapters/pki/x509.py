"""Certificates, CSR checks and CRLs with ``cryptography``: no ASN.1 of our own.

The CAs: a root (20 years, path length 1) signing an issuing CA (10 years, path length 0) that signs the
chargers' certificates (CN = station id, O = the organisation, clientAuth) and the CSMS server certificate
(serverAuth, its host names and addresses as SANs). Serials are random (``x509.random_serial_number``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cloudbay_domain.certificates import IssuedCertificate
from services.certificates import RequestRefused

ALGORITHMS = ("ec", "rsa")  # ECDSA P-256, RSA 3072
ROOT_DAYS, ISSUING_DAYS = 7300, 3650
CSR_CURVES = (ec.SECP256R1, ec.SECP384R1)
MIN_RSA_BITS = 2048
MAX_CSR_CHARS = 5500  # SignCertificateRequest.csr's maxLength
CLOCK_SKEW = timedelta(minutes=5)  # not-before is set this far back, for chargers whose clock runs behind


def new_key(algorithm: str) -> CertificateIssuerPrivateKeyTypes:
    if algorithm == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"the key algorithm must be one of {', '.join(ALGORITHMS)}, not {algorithm!r}")


def name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def describe(certificate: x509.Certificate, kind: str, station_id: str | None = None) -> IssuedCertificate:
    """What the event log keeps of ``certificate`` (public facts only)."""
    return IssuedCertificate(
        serial=format(certificate.serial_number, "x"),
        subject=certificate.subject.rfc4514_string(),
        not_after=certificate.not_valid_after_utc.isoformat(),
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(),
        kind=kind,
        station_id=station_id,
    )


def _builder(subject: x509.Name, issuer: x509.Name, public_key: Any, days: int | timedelta) -> x509.CertificateBuilder:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + (days if isinstance(days, timedelta) else timedelta(days=days)))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _usage(ca: bool, key_encipherment: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _signed(builder: x509.CertificateBuilder, key: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


def make_root(key: CertificateIssuerPrivateKeyTypes, organisation: str) -> x509.Certificate:
    subject = name(f"{organisation} Root CA", organisation)
    builder = _builder(subject, subject, key.public_key(), ROOT_DAYS)
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
    return _signed(builder.add_extension(_usage(ca=True), critical=True), key)


def make_issuing(
    key: CertificateIssuerPrivateKeyTypes, root: x509.Certificate, root_key: CertificateIssuerPrivateKeyTypes
) -> x509.Certificate:
    organisation = root.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value
    builder = _builder(
        name(f"{organisation!s} Charging Station CA", str(organisation)), root.subject, key.public_key(), ISSUING_DAYS
    )
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
    builder = builder.add_extension(_authority_key_id(root), critical=False)
    return _signed(builder.add_extension(_usage(ca=True), critical=True), root_key)


def _authority_key_id(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def issue_leaf(
    subject: x509.Name,
    public_key: Any,
    issuer: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    days: int,
    usage: x509.ObjectIdentifier,
    hosts: Sequence[str] = (),
) -> x509.Certificate:
    """An end-entity certificate: ``usage`` is clientAuth (chargers) or serverAuth (the CSMS, with ``hosts``)."""
    builder = _builder(subject, issuer.subject, public_key, days)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(_usage(ca=False, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    builder = builder.add_extension(_authority_key_id(issuer), critical=False)
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(h) for h in hosts]), False)
    return _signed(builder, issuer_key)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


CLIENT_AUTH, SERVER_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH


def check_csr(pem: str, station_id: str, organisation: str) -> x509.CertificateSigningRequest:
    """The station's CSR, or ``RequestRefused``: unreadable or a bad signature (InvalidCSR), a key that is not
    EC P-256/P-384 or RSA of at least 2048 bits (UnsupportedKey), a subject whose CN is not the station id or
    whose O is not the organisation (InvalidSubject)."""
    csr = read_csr(pem)
    cns = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    orgs = [str(a.value) for a in csr.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)]
    if cns != [station_id]:
        raise RequestRefused("InvalidSubject", f"the CSR's CN must be the station id {station_id!r}")
    if orgs != [organisation]:
        raise RequestRefused("InvalidSubject", f"the CSR's O must be {organisation!r}")
    return csr


def read_csr(pem: str) -> x509.CertificateSigningRequest:
    """A CSR whose signature verifies and whose key is good enough, or ``RequestRefused`` (its subject is the
    caller's to check)."""
    if len(pem) > MAX_CSR_CHARS:
        raise RequestRefused("InvalidCSR", "the CSR is too long")
    try:
        csr = x509.load_pem_x509_csr(pem.encode())
        signature_valid = csr.is_signature_valid
        key = csr.public_key()
        csr.subject.rfc4514_string()  # a subject that cannot be read is an unreadable CSR
    except UnsupportedAlgorithm:
        raise RequestRefused("UnsupportedKey", "the CSR's key algorithm is not supported") from None
    except (ValueError, TypeError, UnicodeError):
        raise RequestRefused("InvalidCSR", "the CSR is not a PEM certificate signing request") from None
    if not signature_valid:
        raise RequestRefused("InvalidCSR", "the CSR's signature does not verify")
    if isinstance(key, ec.EllipticCurvePublicKey):
        if not isinstance(key.curve, CSR_CURVES):
            raise RequestRefused("UnsupportedKey", f"EC keys must be P-256 or P-384, not {key.curve.name}")
    elif isinstance(key, rsa.RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise RequestRefused(
                "UnsupportedKey", f"RSA keys must have at least {MIN_RSA_BITS} bits, not {key.key_size}"
            )
    else:
        raise RequestRefused("UnsupportedKey", "the key must be EC (P-256, P-384) or RSA (2048 bits or more)")
    return csr


def charger_uri(station_id: str) -> str:
    """The SAN URI naming the one charger a guest's certificate is good for."""
    return CHARGER_URI_PREFIX + quote(station_id, safe="")


CHARGER_URI_PREFIX = "urn:cloudbay:charger:"


def issue_guest(
    public_key: Any,
    station_id: str,
    id_token: str,
    organisation: str,
    issuer: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    valid_for: timedelta,
) -> x509.Certificate:
    """A guest's client certificate: CN = the guest's id token, O = the organisation, the charger's station id
    as a SAN URI (``urn:cloudbay:charger:<station id>``), clientAuth, valid ``valid_for``."""
    builder = _builder(name(id_token, organisation), issuer.subject, public_key, valid_for)
    builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    builder = builder.add_extension(_usage(ca=False, key_encipherment=isinstance(public_key, rsa.RSAPublicKey)), True)
    builder = builder.add_extension(x509.ExtendedKeyUsage([CLIENT_AUTH]), critical=False)
    builder = builder.add_extension(_authority_key_id(issuer), critical=False)
    uri = x509.UniformResourceIdentifier(charger_uri(station_id))
    builder = builder.add_extension(x509.SubjectAlternativeName([uri]), critical=False)
    return _signed(builder, issuer_key)


def make_crl(
    revoked: Sequence[tuple[str, datetime]],
    issuer: x509.Certificate,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    now: datetime,
    valid_for: timedelta,
) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(now)
        .next_update(now + valid_for)
        .add_extension(_authority_key_id(issuer), critical=False)
    )
    for serial, at in revoked:
        entry = x509.RevokedCertificateBuilder().serial_number(int(serial, 16)).revocation_date(at).build()
        builder = builder.add_revoked_certificate(entry)
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(Encoding.DER)
