"""The firmware images' parts, from the settings: the local image store, the signer, the download links."""

from __future__ import annotations

from adapters.firmware_settings import UrlKey
from adapters.image_store import LocalImageStore
from adapters.pki.authority import FileAuthority
from adapters.pki.firmware_signing import FirmwareSigning
from adapters.settings import Settings
from services.download_links import DownloadLinks
from services.firmware_images import FirmwareImages
from services.store import EventLog

DEFAULT_BASE_URL = "http://localhost:8080"  # `cloudbay serve` sets its own port


def firmware_images(settings: Settings, log: EventLog, authority: FileAuthority) -> FirmwareImages:
    files = settings.firmware_files
    signer = FirmwareSigning(authority, files.vendor_certificate)
    return FirmwareImages(log, LocalImageStore(files.directory), signer, files.max_bytes)


def download_links(settings: Settings) -> DownloadLinks:
    files = settings.firmware_files
    return DownloadLinks(UrlKey(files.url_key), files.base_url or DEFAULT_BASE_URL, files.url_seconds)
