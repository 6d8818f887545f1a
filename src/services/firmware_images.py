"""Uploaded firmware images: stored by content hash, signed (or their vendor's signature verified), recorded.

An upload is written to the image store while it arrives (``ImageStore.writer``: hashed as it goes, never held
in memory) and only then registered: the signature is made with the platform's firmware-signing key, or, when
a vendor's certificate is configured, the vendor's signature that came with the upload is verified against it
(a missing or bad one is refused, and the bytes are discarded). The ``FirmwareImage`` event records the hash,
size, version, family, minimum version, signature and signing certificate, never a key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol
from uuid import UUID

from cloudbay_domain.firmware import check_family, check_version
from cloudbay_domain.firmware_image import PLATFORM_SIGNED, VENDOR_SIGNED, FirmwareImage
from services.errors import ServiceError
from services.store import EventLog


class UnknownImage(ServiceError):
    """No firmware image of that id (or family and version)."""


class ImageExists(ServiceError):
    """The family has an image of that version already (HTTP 409)."""


class ImageRefused(ServiceError):
    """The upload cannot be accepted: a bad or missing signature, an image for another family (HTTP 422)."""


class ImageTooLarge(ServiceError):
    """The upload is over the configured size limit (HTTP 413)."""


class NoImageStore(ServiceError):
    """A process built without an image store or signer (HTTP 503)."""


class ImageWriter(Protocol):
    """An upload being written: ``write`` each chunk, then ``digest`` (sha256 bytes), then ``commit`` or
    ``discard``."""

    size: int

    def write(self, chunk: bytes) -> None: ...
    def digest(self) -> bytes: ...
    def checksum(self) -> str: ...
    def commit(self) -> str: ...
    def discard(self) -> None: ...


class ImageStore(Protocol):
    """Where image bytes are kept, by sha256 (a local directory by default; an object store fits the same)."""

    def writer(self) -> ImageWriter: ...
    def size(self, sha256: str) -> int | None: ...
    def open(self, sha256: str) -> BinaryIO: ...


class ImageSigner(Protocol):
    """The firmware signatures: the platform's own, or a vendor's verified against its certificate."""

    def vendor_certificate(self) -> str | None:
        """The PEM of the vendor certificate uploads must be signed with, if one is configured."""
        ...

    def sign(self, digest: bytes) -> tuple[str, str]:
        """(base64 signature of the image whose sha256 is ``digest``, PEM of the certificate verifying it)."""
        ...

    def verify(self, digest: bytes, signature: str) -> bool:
        """Whether ``signature`` (base64) is the vendor's over the image whose sha256 is ``digest``."""
        ...


@dataclass(frozen=True)
class ImageFacts:
    """What an upload says about itself."""

    family: str
    version: str
    minimum_version: str | None = None
    release_notes: str = ""
    signature: str | None = None  # a vendor's base64 signature, when uploads are vendor-signed


class FirmwareImages:
    def __init__(
        self, log: EventLog, store: ImageStore | None = None, signer: ImageSigner | None = None, max_bytes: int = 0
    ) -> None:
        self.log, self._store, self._signer, self.max_bytes = log, store, signer, max_bytes

    @property
    def store(self) -> ImageStore:
        if self._store is None:
            raise NoImageStore("this process keeps no firmware images")
        return self._store

    @property
    def signer(self) -> ImageSigner:
        if self._signer is None:
            raise NoImageStore("this process signs no firmware images")
        return self._signer

    def check(self, facts: ImageFacts) -> None:
        """Refuse an upload before its bytes are read: bad names, a version the family has already."""
        check_family(facts.family), check_version(facts.version)
        if facts.minimum_version is not None:
            check_version(facts.minimum_version)
        if FirmwareImage.create_id(facts.family, facts.version) in self.log.repository:
            raise ImageExists(f"{facts.family} has an image of version {facts.version} already")

    def register(self, facts: ImageFacts, upload: ImageWriter, by: str) -> FirmwareImage:
        """Sign or verify the written upload, keep its bytes and record it; the upload is discarded if refused."""
        try:
            self.check(facts)
            digest = upload.digest()
            vendor = self.signer.vendor_certificate()
            if vendor is not None:
                if not facts.signature:
                    raise ImageRefused("uploads must carry the vendor's signature (the signature parameter)")
                if not self.signer.verify(digest, facts.signature):
                    raise ImageRefused("the signature does not verify against the vendor's certificate")
                signature, certificate, signed_by = facts.signature, vendor, VENDOR_SIGNED
            else:
                if facts.signature:
                    raise ImageRefused("no vendor certificate is configured: the platform signs images itself")
                (signature, certificate), signed_by = self.signer.sign(digest), PLATFORM_SIGNED
            image = FirmwareImage.upload(
                facts.family, facts.version, digest.hex(), upload.size, facts.minimum_version, facts.release_notes,
                signature, certificate, signed_by, by, upload.checksum(),
            )  # fmt: skip
        except BaseException:
            upload.discard()
            raise
        upload.commit()
        return self.log.create(image, ImageExists(f"{facts.family} has an image of version {facts.version} already"))

    def get(self, image_id: UUID) -> FirmwareImage:
        found: FirmwareImage | None = self.log.load_or_none(image_id)
        if not isinstance(found, FirmwareImage):  # another aggregate's id is no image either
            raise UnknownImage(f"no firmware image {image_id}")
        return found

    def find(self, family: str, version: str | None) -> FirmwareImage | None:
        """The family's image of ``version``, if one was uploaded."""
        if version is None:
            return None
        found: FirmwareImage | None = self.log.load_or_none(FirmwareImage.create_id(family, version))
        return found

    def chunks(self, sha256: str, start: int, end: int, chunk: int = 64 * 1024) -> Iterator[bytes]:
        """Bytes ``start`` .. ``end`` (inclusive) of the image, a chunk at a time."""
        with self.store.open(sha256) as f:
            f.seek(start)
            left = end - start + 1
            while left > 0:
                data = f.read(min(chunk, left))
                if not data:
                    return
                left -= len(data)
                yield data
