"""``FirmwarePublication``: what a local controller publishes to the chargers behind it (OCPP L03/L04).

A local controller downloads an image once (PublishFirmware: the image's link and its MD5 checksum, as OCPP
asks) and serves it to its chargers at the locations it reports (PublishFirmwareStatusNotification with
``Published``); UnpublishFirmware (by the checksum) stops that. One small stream per controller: each request
with the controller's answer, and each status it reports.
"""

from __future__ import annotations

from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.text import check_text

PUBLISH_STATUSES = frozenset({
    "Idle", "DownloadScheduled", "Downloading", "Downloaded", "Published", "DownloadFailed", "DownloadPaused",
    "InvalidChecksum", "ChecksumVerified", "PublishFailed",
})  # fmt: skip
REQUEST_ID_BASE = 2_000_000  # publications' request ids, apart from the campaigns' and the enrolment step's
MAX_LOCATIONS = 20


class UnknownPublishStatus(ValueError):
    """A PublishFirmwareStatusNotification status OCPP 2.0.1 does not define."""


class FirmwarePublication(Aggregate):
    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:firmware-publication:{station_id}")

    class Started(Aggregate.Created):
        station_id: str

    @event(Started)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.requests = 0
        self.request_id: int | None = None
        self.image_id: str | None = None
        self.sha256: str | None = None
        self.checksum: str | None = None
        self.answer: str | None = None  # the controller's answer to the last PublishFirmware / UnpublishFirmware
        self.status: str | None = None  # its last PublishFirmwareStatusNotification
        self.locations: list[str] = []
        self.by: str | None = None

    class Requested(Aggregate.Event):
        """PublishFirmware ``request_id`` is about to go out (saved first: the controller may report at once)."""

        request_id: int
        image_id: str
        sha256: str
        checksum: str
        by: str

    def request(self, image_id: str, sha256: str, checksum: str, by: str) -> int:
        """Reserve the next request id for publishing the image; send it, then record the answer."""
        request_id = REQUEST_ID_BASE + self.requests + 1
        self._requested(request_id=request_id, image_id=image_id, sha256=sha256, checksum=checksum, by=by)
        return request_id

    @event(Requested)
    def _requested(self, request_id: int, image_id: str, sha256: str, checksum: str, by: str) -> None:
        self.requests += 1
        self.request_id, self.image_id, self.sha256, self.checksum = request_id, image_id, sha256, checksum
        self.answer, self.by, self.status, self.locations = None, by, None, []

    class Answered(Aggregate.Event):
        request_id: int
        answer: str

    def answered(self, request_id: int, answer: str) -> None:
        self._answered(request_id=request_id, answer=check_text(answer, "answer")[:60])

    @event(Answered)
    def _answered(self, request_id: int, answer: str) -> None:
        if request_id == self.request_id:
            self.answer = answer

    class StatusReported(Aggregate.Event):
        status: str
        request_id: int | None
        locations: list[str]

    def report(self, status: str, request_id: int | None, locations: list[str]) -> bool:
        """A PublishFirmwareStatusNotification; False (nothing recorded) for another request than the last."""
        if status not in PUBLISH_STATUSES:
            raise UnknownPublishStatus(f"{check_text(status, 'status')[:60]!r} is no PublishFirmwareStatus")
        if request_id is not None and request_id != self.request_id:
            return False
        kept = [check_text(location, "location")[:512] for location in locations[:MAX_LOCATIONS]]
        self._reported(status=status, request_id=request_id, locations=kept)
        return True

    @event(StatusReported)
    def _reported(self, status: str, request_id: int | None, locations: list[str]) -> None:
        self.status = status
        if status == "Published":
            self.locations = locations

    class Unpublished(Aggregate.Event):
        checksum: str
        answer: str
        by: str

    def unpublished(self, checksum: str, answer: str, by: str) -> None:
        self._unpublished(checksum=checksum, answer=check_text(answer, "answer")[:60], by=by)

    @event(Unpublished)
    def _unpublished(self, checksum: str, answer: str, by: str) -> None:
        self.answer, self.by = answer, by
        if answer == "Unpublished":
            self.status, self.locations = "Unpublished", []
