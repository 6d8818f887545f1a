"""``FirmwareImage``: one uploaded, signed firmware image of a hardware family.

The image's bytes are kept by content hash (sha256) in an image store; the record holds what chargers and
campaigns need: the hash and size, the family and version, the oldest version it may update from, release
notes, and the signature with the certificate that verifies it (who signed: the platform's firmware-signing
key, or the vendor). Never a key. One image per family and version: the id is derived from both.
"""

from __future__ import annotations

import re
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.firmware import InvalidFirmware, check_family, check_version
from cloudbay_domain.text import check_text

SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_NOTES = 10_000
PLATFORM_SIGNED, VENDOR_SIGNED = "platform", "vendor"
BELOW_MINIMUM = "BelowMinimumVersion"


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """An ordering of versions: numbers as numbers, anything else as text (``2.10.0`` after ``2.9.1``)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+_ ]", version.strip()) if p)


def below_minimum(version: str | None, minimum: str | None) -> bool:
    """Whether a charger running ``version`` may not take an image that updates from ``minimum`` on (an unknown
    version is not below: the charger's own checks apply)."""
    return minimum is not None and version is not None and version_key(version) < version_key(minimum)


def check_sha256(value: str) -> str:
    if not SHA256.match(value):
        raise InvalidFirmware("an image hash is 64 lowercase hexadecimal digits (sha256)")
    return value


class FirmwareImage(Aggregate):
    """One image of a family: its bytes by hash in the image store, and who signed it."""

    @staticmethod
    def create_id(family: str, firmware_version: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:firmware-image:{family}:{firmware_version}")

    class Uploaded(Aggregate.Created):
        family: str
        firmware_version: str
        sha256: str
        size: int
        minimum_version: str | None
        release_notes: str
        signature: str
        signing_certificate: str
        signed_by: str
        uploaded_by: str
        md5: str = ""  # hex: OCPP's PublishFirmware names an image by it

    @event(Uploaded)
    def __init__(
        self, family: str, firmware_version: str, sha256: str, size: int, minimum_version: str | None,
        release_notes: str, signature: str, signing_certificate: str, signed_by: str, uploaded_by: str,
        md5: str = "",
    ) -> None:  # fmt: skip
        self.family, self.firmware_version, self.sha256, self.size = family, firmware_version, sha256, size
        self.minimum_version, self.release_notes = minimum_version, release_notes
        self.signature, self.signing_certificate, self.signed_by = signature, signing_certificate, signed_by
        self.uploaded_by, self.md5 = uploaded_by, md5

    @classmethod
    def upload(
        cls, family: str, version: str, sha256: str, size: int, minimum_version: str | None, release_notes: str,
        signature: str, signing_certificate: str, signed_by: str, uploaded_by: str, md5: str = "",
    ) -> FirmwareImage:  # fmt: skip
        check_family(family), check_version(version), check_sha256(sha256)
        if minimum_version is not None:
            check_version(minimum_version)
        if len(check_text(release_notes, "release notes")) > MAX_NOTES:
            raise InvalidFirmware(f"release notes have at most {MAX_NOTES} characters")
        if size < 1:
            raise InvalidFirmware("an image is not empty")
        if signed_by not in (PLATFORM_SIGNED, VENDOR_SIGNED):
            raise ValueError(signed_by)
        return cls(family, version, sha256, size, minimum_version, release_notes, signature, signing_certificate,
                   signed_by, check_text(uploaded_by, "by"), md5)  # fmt: skip
