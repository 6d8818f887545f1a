"""Where firmware images are kept, how large one may be, and how chargers download them.

- ``CLOUDBAY_FIRMWARE_DIR``: the image store's directory (default ``$CLOUDBAY_DATA_DIR/firmware``), files named
  by their sha256.
- ``CLOUDBAY_FIRMWARE_MAX_BYTES``: the largest upload (default 512 MiB); a larger one is refused with 413.
- ``CLOUDBAY_FIRMWARE_BASE_URL``: the URL chargers reach this platform's HTTP port at, e.g.
  ``https://csms.example.com`` (the download links start with it); default ``http://localhost:<the port served>``.
- ``CLOUDBAY_FIRMWARE_URL_SECONDS``: how long a download link is good for (default 3600).
- ``CLOUDBAY_FIRMWARE_URL_KEY``: the file holding the download links' HMAC secret (default
  ``$CLOUDBAY_DATA_DIR/firmware-url-key``, created at first use; every node must read the same file).
- ``CLOUDBAY_FIRMWARE_VENDOR_CERT``: a vendor's signing certificate (PEM): when set, every upload must carry the
  vendor's signature over the image, verified against it; else the platform signs images itself.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from adapters.manufacturing import write_private_file

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
DEFAULT_URL_SECONDS = 3600


@dataclass(frozen=True)
class FirmwareSettings:
    directory: Path = Path("var/firmware")
    max_bytes: int = DEFAULT_MAX_BYTES
    base_url: str | None = None
    url_seconds: int = DEFAULT_URL_SECONDS
    url_key: Path = Path("var/firmware-url-key")
    vendor_certificate: Path | None = None

    @classmethod
    def under(cls, data_dir: Path) -> FirmwareSettings:
        return cls(directory=data_dir / "firmware", url_key=data_dir / "firmware-url-key")

    @classmethod
    def from_env(cls, env: dict[str, str], data_dir: Path) -> FirmwareSettings:
        base = cls.under(data_dir)
        vendor = env.get("CLOUDBAY_FIRMWARE_VENDOR_CERT")
        max_bytes, seconds = env.get("CLOUDBAY_FIRMWARE_MAX_BYTES"), env.get("CLOUDBAY_FIRMWARE_URL_SECONDS")
        if (max_bytes and not max_bytes.isdigit()) or (seconds and not seconds.isdigit()):
            raise ValueError("CLOUDBAY_FIRMWARE_MAX_BYTES and CLOUDBAY_FIRMWARE_URL_SECONDS are whole numbers")
        return cls(
            directory=Path(env["CLOUDBAY_FIRMWARE_DIR"]) if env.get("CLOUDBAY_FIRMWARE_DIR") else base.directory,
            max_bytes=int(max_bytes) if max_bytes else DEFAULT_MAX_BYTES,
            base_url=env.get("CLOUDBAY_FIRMWARE_BASE_URL") or None,
            url_seconds=max(60, int(seconds)) if seconds else DEFAULT_URL_SECONDS,
            url_key=Path(env["CLOUDBAY_FIRMWARE_URL_KEY"]) if env.get("CLOUDBAY_FIRMWARE_URL_KEY") else base.url_key,
            vendor_certificate=Path(vendor) if vendor else None,
        )


class UrlKey:
    """The download links' secret, read from its file (created with 32 random bytes at first use)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def __call__(self) -> bytes:
        if self._key is None:
            if not self.path.exists():
                write_private_file(self.path, secrets.token_hex(32) + "\n", replace=False)
            self._key = self.path.read_text(encoding="utf-8").strip().encode()
        return self._key
