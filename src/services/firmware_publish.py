"""Publishing an uploaded image on a local controller (L03/L04): PublishFirmware with the image's link and MD5,
UnpublishFirmware by the MD5, and the controller's PublishFirmwareStatusNotifications.

The controller downloads the image once by an expiring link (``services.download_links``), like a charger,
then serves it to the chargers behind it at the locations it reports. Each request and its answer, and each
status, is recorded on the controller's ``FirmwarePublication`` stream.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from cloudbay_domain.charger import Charger
from cloudbay_domain.firmware_publication import FirmwarePublication
from services.chargers import not_whitelisted
from services.download_links import DownloadLinks
from services.errors import ServiceError
from services.firmware_images import FirmwareImages, ImageRefused
from services.ports import ChargerLink, LinkError, PublishFirmware, UnpublishFirmware
from services.store import EventLog

Runner = Callable[..., Awaitable[Any]]
RETRIES, RETRY_INTERVAL = 3, 600


class NothingPublished(ServiceError):
    """The controller was never sent PublishFirmware (HTTP 404)."""


class Publications:
    def __init__(
        self, log: EventLog, link: ChargerLink, run: Runner, images: FirmwareImages, links: DownloadLinks | None
    ) -> None:
        self.log, self.link, self.run, self.images, self.links = log, link, run, images, links

    def get(self, station_id: str) -> FirmwarePublication:
        self.log.load(Charger.create_id(station_id), not_whitelisted(station_id))
        found: FirmwarePublication = self.log.load(
            FirmwarePublication.create_id(station_id), NothingPublished(f"nothing was published on {station_id}")
        )
        return found

    def _reserve(self, station_id: str, image_id: UUID, by: str) -> tuple[int, Any]:
        """Record the coming PublishFirmware (its request id) before it is sent."""
        self.log.load(Charger.create_id(station_id), not_whitelisted(station_id))
        image = self.images.get(image_id)
        if not image.md5 or self.links is None:
            raise ImageRefused(f"image {image_id} has no checksum or no download link can be made here")
        ids: list[int] = []
        self._record(station_id, lambda p: ids.append(p.request(str(image.id), image.sha256, image.md5, by)))
        return ids[-1], image

    def _record(self, station_id: str, change: Callable[[FirmwarePublication], None]) -> FirmwarePublication:
        def attempt() -> tuple[FirmwarePublication, list[Any]]:
            found: FirmwarePublication | None = self.log.load_or_none(FirmwarePublication.create_id(station_id))
            found = found if found is not None else FirmwarePublication(station_id)
            change(found)
            return found, [found]

        return self.log.retrying(attempt, f"firmware publication of {station_id}")

    async def publish(self, station_id: str, image_id: UUID, by: str) -> FirmwarePublication:
        """Send PublishFirmware for the image; the publication with the controller's answer."""
        request_id, image = await self.run(self._reserve, station_id, image_id, by)
        assert self.links is not None
        request = PublishFirmware(request_id, self.links.url(image.sha256), image.md5, RETRIES, RETRY_INTERVAL)
        answer = await self._send(station_id, request)
        return await self.run(self._record, station_id, lambda p: p.answered(request_id, answer))

    async def unpublish(self, station_id: str, by: str) -> FirmwarePublication:
        """Send UnpublishFirmware for what was published last."""
        found = await self.run(self.get, station_id)
        if found.checksum is None:
            raise NothingPublished(f"nothing was published on {station_id}")
        answer = await self._send(station_id, UnpublishFirmware(found.checksum))
        checksum = found.checksum
        return await self.run(self._record, station_id, lambda p: p.unpublished(checksum, answer, by))

    async def _send(self, station_id: str, request: Any) -> str:
        try:
            return str((await self.link.request(station_id, request)).status)
        except LinkError as e:
            return e.reason

    def record_status(self, station_id: str, status: str, request_id: int | None, locations: list[str]) -> bool:
        """A PublishFirmwareStatusNotification; False when it names another request (nothing recorded)."""
        found: FirmwarePublication | None = self.log.load_or_none(FirmwarePublication.create_id(station_id))
        if found is None:
            return False
        kept: list[bool] = []
        self._record(station_id, lambda p: kept.append(p.report(status, request_id, locations)))
        return kept[-1]
