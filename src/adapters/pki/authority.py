"""The certificate authority's files: its certificates, its keys (encrypted at rest), the server's certificate.

In the CA directory (``adapters.pki.settings``; mode 0700, every file 0600):
``root.pem``, ``root-key.pem`` (encrypted), ``issuing.pem``, ``issuing-key.pem`` (encrypted), ``chain.pem``
(the issuing CA then the root: what verifies chargers' client certificates), and after
``cloudbay ca server-cert`` ``server.pem`` (the server certificate, then the issuing CA) and ``server-key.pem``
(not encrypted: the TLS server reads it at start; only its file mode protects it). The CA keys are encrypted
with the passphrase (``BestAvailableEncryption``) and decrypted in memory when a certificate or a CRL is signed.
Files are read at each use (an unchanged file from a cache), so a CA made by the CLI is seen by running servers.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from adapters.manufacturing import write_private_file
from adapters.pki import x509 as pki
from adapters.pki.settings import CaSettings
from cloudbay_domain.certificates import CHARGING_STATION, GUEST, ISSUING, ROOT, SERVER, IssuedCertificate
from services.certificates import AuthorityNotReady, Signed

log = logging.getLogger("cloudbay.pki")
CRL_VALID_FOR = timedelta(days=7)
SERVER_DAYS = 397


class AuthorityExists(Exception):
    """``ca init`` on a directory that holds a CA already."""


class FileAuthority:
    """The ``CertificateSigner`` of the platform, over the CA directory."""

    def __init__(self, settings: CaSettings) -> None:
        self.settings = settings
        self.directory = settings.directory
        self._cache: dict[Path, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def renew_within(self) -> timedelta:
        return timedelta(days=self.settings.renew_days)

    @property
    def ready(self) -> bool:
        return all(self.path(n).exists() for n in ("root.pem", "issuing.pem", "issuing-key.pem"))

    # --- the passphrase and the files --------------------------------------------------------

    def _passphrase(self, create: bool = False) -> bytes:
        if self.settings.passphrase:
            return self.settings.passphrase.encode()
        path = self.settings.passphrase_path
        if create and not path.exists():
            write_private_file(path, secrets.token_urlsafe(32) + "\n", replace=False)
        try:
            return path.read_text(encoding="utf-8").strip().encode()
        except OSError as e:
            log.error("cannot read the CA passphrase file %s: %s", path, e.strerror)
            raise AuthorityNotReady("the CA passphrase cannot be read") from None

    def _write_key(self, name: str, key: CertificateIssuerPrivateKeyTypes, passphrase: bytes | None) -> None:
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase) if passphrase else serialization.NoEncryption()
        )
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        write_private_file(self.path(name), pem.decode(), replace=True)

    def _write_certs(self, name: str, *certificates: x509.Certificate) -> None:
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)
        write_private_file(self.path(name), pem.decode(), replace=True)

    def _cached(self, name: str, read: Any) -> Any:
        path = self.path(name)
        try:
            stamp = path.stat().st_mtime_ns
        except OSError:
            raise AuthorityNotReady("no certificate authority was created (`cloudbay ca init`)") from None
        with self._lock:
            held = self._cache.get(path)
            if held is not None and held[0] == stamp:
                return held[1]
        value = read(path.read_bytes())
        with self._lock:
            self._cache[path] = (stamp, value)
        return value

    def _certificate(self, name: str) -> x509.Certificate:
        return self._cached(name, x509.load_pem_x509_certificate)

    def _key(self, name: str) -> CertificateIssuerPrivateKeyTypes:
        def read(data: bytes) -> Any:
            try:
                return serialization.load_pem_private_key(data, self._passphrase())
            except (ValueError, TypeError):
                raise AuthorityNotReady(f"the CA key {name} cannot be decrypted with the passphrase") from None

        return self._cached(name, read)

    # --- making the CA ------------------------------------------------------------------------

    def init(self, algorithm: str = "ec") -> list[IssuedCertificate]:
        """Create the root and the issuing CA; ``AuthorityExists`` when there is one already."""
        if self.path("root.pem").exists() or self.path("issuing.pem").exists():
            raise AuthorityExists(f"{self.directory} holds a certificate authority already")
        organisation = self.settings.organisation
        passphrase = self._passphrase(create=True)
        root_key, issuing_key = pki.new_key(algorithm), pki.new_key(algorithm)
        root = pki.make_root(root_key, organisation)
        issuing = pki.make_issuing(issuing_key, root, root_key)
        self._write_key("root-key.pem", root_key, passphrase)
        self._write_key("issuing-key.pem", issuing_key, passphrase)
        self._write_certs("root.pem", root)
        self._write_certs("issuing.pem", issuing)
        self._write_certs("chain.pem", issuing, root)  # the trust bundle a TLS server verifies chargers with
        return [pki.describe(root, ROOT), pki.describe(issuing, ISSUING)]

    def server_certificate(self, hosts: Sequence[str], days: int = SERVER_DAYS) -> IssuedCertificate:
        """The CSMS's TLS certificate for ``hosts`` (its SANs; the CN is the first), and its key, in files."""
        if not hosts:
            raise ValueError("name at least one host")
        issuing, issuing_key = self._certificate("issuing.pem"), self._key("issuing-key.pem")
        key = pki.new_key("ec")
        subject = pki.name(hosts[0], self.settings.organisation)
        certificate = pki.issue_leaf(subject, key.public_key(), issuing, issuing_key, days, pki.SERVER_AUTH, hosts)
        self._write_key("server-key.pem", key, None)
        self._write_certs("server.pem", certificate, issuing)
        return pki.describe(certificate, SERVER)

    # --- the signer port ------------------------------------------------------------------------

    def chain_pem(self) -> bytes:
        """The issuing CA then the root, for chargers' trust stores."""
        issuing, root = self._certificate("issuing.pem"), self._certificate("root.pem")
        return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (issuing, root))

    def sign_station_request(self, csr_pem: str, station_id: str) -> Signed:
        csr = pki.check_csr(csr_pem, station_id, self.settings.organisation)
        issuing, issuing_key = self._certificate("issuing.pem"), self._key("issuing-key.pem")
        subject = pki.name(station_id, self.settings.organisation)
        leaf = pki.issue_leaf(subject, csr.public_key(), issuing, issuing_key, self.settings.leaf_days, pki.CLIENT_AUTH)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, issuing)).decode()
        return Signed(pki.describe(leaf, CHARGING_STATION, station_id), chain)

    def sign_guest_request(self, csr_pem: str, station_id: str, id_token: str) -> Signed:
        """A guest's certificate for ``station_id`` from the app's CSR (only its key is used: the subject is the
        guest's id token there)."""
        csr = pki.read_csr(csr_pem)
        issuing, issuing_key = self._certificate("issuing.pem"), self._key("issuing-key.pem")
        valid_for = timedelta(hours=self.settings.guest_hours)
        organisation = self.settings.organisation
        leaf = pki.issue_guest(csr.public_key(), station_id, id_token, organisation, issuing, issuing_key, valid_for)
        chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, issuing)).decode()
        return Signed(pki.describe(leaf, GUEST), chain)

    def crl(self, revoked: Sequence[tuple[str, datetime]], now: datetime) -> bytes:
        issuing, issuing_key = self._certificate("issuing.pem"), self._key("issuing-key.pem")
        return pki.make_crl(revoked, issuing, issuing_key, now, CRL_VALID_FOR)
