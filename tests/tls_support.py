"""Certificates made in the test with ``cryptography``: a root CA, an issuing CA for chargers, a server
certificate for 127.0.0.1 / localhost, client certificates (CN = station id), and clients' SSL contexts."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Key = ec.EllipticCurvePrivateKey


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "CloudBay test"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Issued:
    cert: x509.Certificate
    key: Key

    def write(self, directory: Path, stem: str, chain: tuple[Issued, ...] = ()) -> tuple[Path, Path]:
        cert_path, key_path = directory / f"{stem}.pem", directory / f"{stem}.key"
        pems = [c.cert.public_bytes(serialization.Encoding.PEM) for c in (self, *chain)]
        cert_path.write_bytes(b"".join(pems))
        key_path.write_bytes(
            self.key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return cert_path, key_path


def issue(
    cn: str,
    issuer: Issued | None = None,
    *,
    ca: bool = False,
    server: bool = False,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
) -> Issued:
    """A certificate for ``cn`` signed by ``issuer`` (self-signed without one)."""
    key = ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.cert.subject if issuer else _name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or _now() - dt.timedelta(minutes=5))
        .not_valid_after(not_after or _now() + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if server:
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    if ca:
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    return Issued(builder.sign(signer, hashes.SHA256()), key)


@dataclass
class Pki:
    """A root, the chargers' issuing CA under it, the server certificate; files written in ``directory``."""

    directory: Path
    root: Issued
    issuing: Issued
    server_cert: Path
    server_key: Path
    client_ca: Path
    root_pem: Path

    @classmethod
    def make(cls, directory: Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        root = issue("CloudBay test root", ca=True)
        issuing = issue("CloudBay test chargers CA", root, ca=True)
        server_cert, server_key = issue("127.0.0.1", issuing, server=True).write(directory, "server", (issuing,))
        client_ca, _ = issuing.write(directory, "issuing", (root,))
        root_pem, _ = root.write(directory, "root")
        return cls(directory, root, issuing, server_cert, server_key, client_ca, root_pem)

    def client_context(
        self,
        cn: str | None = None,
        issuer: Issued | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
    ) -> ssl.SSLContext:
        """A charger's TLS context trusting the root; with ``cn``, presenting a client certificate for it."""
        context = ssl.create_default_context(cafile=str(self.root_pem))
        if cn is not None:
            chain = (issuer or self.issuing,)
            cert, key = issue(cn, issuer or self.issuing, not_before=not_before, not_after=not_after).write(
                self.directory, f"client-{cn}", chain
            )
            context.load_cert_chain(str(cert), str(key))
        return context
