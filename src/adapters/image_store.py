"""The image store in a local directory: each image a file named by its sha256, written whole or not at all.

An upload is written to a temporary file in the same directory while it is hashed, then renamed to its hash
(``commit``): a reader never sees half an image, and the same bytes uploaded twice are one file.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import BinaryIO

from cloudbay_domain.firmware_image import check_sha256


class LocalWriter:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.tmp = directory / f".upload-{uuid.uuid4().hex}.tmp"
        self._file: BinaryIO | None = open(os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb")  # noqa: SIM115
        self._hash, self._md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        self.size = 0

    def write(self, chunk: bytes) -> None:
        assert self._file is not None
        self._file.write(chunk)
        self._hash.update(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def digest(self) -> bytes:
        if self._file is not None:
            self._file.close()
            self._file = None
        return self._hash.digest()

    def checksum(self) -> str:
        """The MD5 of what was written, in hex (OCPP's PublishFirmware checksum; not a security measure)."""
        return self._md5.hexdigest()

    def commit(self) -> str:
        name = self.digest().hex()
        os.replace(self.tmp, self.directory / name)
        return name

    def discard(self) -> None:
        self.digest()
        self.tmp.unlink(missing_ok=True)


class LocalImageStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def writer(self) -> LocalWriter:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        return LocalWriter(self.directory)

    def _path(self, sha256: str) -> Path:
        return self.directory / check_sha256(sha256)

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except (OSError, ValueError):
            return None

    def open(self, sha256: str) -> BinaryIO:
        return self._path(sha256).open("rb")
