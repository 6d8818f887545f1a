"""The platform's firmware signatures (``services.firmware_images.ImageSigner``).

The platform signs images with its firmware-signing key: ``firmware-signing-key.pem`` (encrypted with the CA
passphrase) and ``firmware-signing.pem``, a code-signing certificate issued by the CA's issuing CA, both made
in the CA directory at the first upload (``cloudbay ca init`` must have run). A signature is ECDSA (or RSA
PKCS#1 v1.5) with SHA-256 over the image, in base64; chargers verify it with the certificate UpdateFirmware
sends. With a vendor's certificate configured, the vendor's signatures are verified against it instead.
"""

from __future__ import annotations

import base64
import binascii
import threading
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import ExtendedKeyUsageOID

from adapters.pki import x509 as pki
from adapters.pki.authority import FileAuthority
from services.certificates import AuthorityNotReady

KEY, CERTIFICATE = "firmware-signing-key.pem", "firmware-signing.pem"
SIGNING_DAYS = 1825


def verify(public_key: object, digest: bytes, signature: bytes) -> bool:
    try:
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            return False
    except (InvalidSignature, ValueError):
        return False
    return True


class FirmwareSigning:
    def __init__(self, authority: FileAuthority, vendor_certificate: Path | None = None) -> None:
        self.authority, self.vendor_path = authority, vendor_certificate
        self._lock = threading.Lock()

    def vendor_certificate(self) -> str | None:
        if self.vendor_path is None:
            return None
        try:
            return self.vendor_path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError):
            raise AuthorityNotReady("the vendor's firmware certificate cannot be read") from None

    def verify(self, digest: bytes, signature: str) -> bool:
        pem = self.vendor_certificate()
        if pem is None:
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            return False
        return verify(x509.load_pem_x509_certificate(pem.encode()).public_key(), digest, raw)

    def _ensure(self) -> None:
        authority = self.authority
        with self._lock:
            if authority.path(CERTIFICATE).exists():
                return
            issuing, issuing_key = authority._certificate("issuing.pem"), authority._key("issuing-key.pem")
            key = pki.new_key("ec")
            subject = pki.name("Firmware signing", authority.settings.organisation)
            certificate = pki.issue_leaf(
                subject, key.public_key(), issuing, issuing_key, SIGNING_DAYS, ExtendedKeyUsageOID.CODE_SIGNING
            )
            authority._write_key(KEY, key, authority._passphrase())
            authority._write_certs(CERTIFICATE, certificate)

    def sign(self, digest: bytes) -> tuple[str, str]:
        self._ensure()
        key = self.authority._key(KEY)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        elif isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
        else:
            raise AuthorityNotReady("the firmware-signing key is neither EC nor RSA")
        pem = self.authority._certificate(CERTIFICATE).public_bytes(serialization.Encoding.PEM).decode()
        return base64.b64encode(signature).decode(), pem
