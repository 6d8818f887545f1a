"""Expiring download links for firmware images: ``{base}/firmware/{sha256}?expires=...&sig=...``.

``sig`` is the HMAC-SHA256, with the deployment's download secret, of the hash and the expiry (Unix seconds),
in hex; a link is good until it expires and only for that image. Checked in constant time (``hmac.compare_digest``).
Every node of a deployment must hold the same secret (a file, ``adapters.firmware_settings``).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

DOWNLOAD_PATH = "/firmware/"


class DownloadLinks:
    def __init__(
        self, secret: Callable[[], bytes], base_url: str, valid_seconds: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._secret, self.base_url, self.valid_seconds, self.clock = secret, base_url.rstrip("/"), valid_seconds, clock

    def _mac(self, sha256: str, expires: int) -> str:
        return hmac.new(self._secret(), f"{sha256}:{expires}".encode(), hashlib.sha256).hexdigest()

    def url(self, sha256: str, valid_seconds: int | None = None) -> str:
        """A link to the image, good for ``valid_seconds`` (the configured time by default)."""
        expires = int(self.clock()) + (valid_seconds or self.valid_seconds)
        query = urlencode({"expires": expires, "sig": self._mac(sha256, expires)})
        return f"{self.base_url}{DOWNLOAD_PATH}{sha256}?{query}"

    def plain(self, sha256: str) -> str:
        """Where the image is, without the right to fetch it (what a campaign shows)."""
        return f"{self.base_url}{DOWNLOAD_PATH}{sha256}"

    def valid(self, sha256: str, expires: str | None, sig: str | None) -> bool:
        """Whether a link's ``expires`` and ``sig`` let it fetch ``sha256`` now."""
        if not expires or not sig or not expires.isdigit() or len(expires) > 12:
            return False
        good = hmac.compare_digest(self._mac(sha256, int(expires)).encode(), sig.lower().encode("utf-8", "replace"))
        return good and int(expires) >= self.clock()
