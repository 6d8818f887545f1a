"""A hardware family's latest stable firmware: the version every charger of the family should run when it is
made ready, and where its image is fetched from.

This is the small record enrolment needs (one version per family); images, their signatures and campaigns come
with the firmware work, and the signing fields are kept for it. Each change is an event naming who made it.
"""

from __future__ import annotations

from urllib.parse import urlsplit
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.batch import name_problem
from cloudbay_domain.text import check_text

MAX_VERSION = 50  # BootNotification's chargingStation.firmwareVersion is string[0..50]
MAX_LOCATION = 2000  # UpdateFirmware's firmware.location is string[0..2000]


class InvalidFirmware(ValueError):
    """A version or image location the platform does not accept."""


def check_family(family: str) -> str:
    """A family's name, as production batches accept it (1-64 characters, no control characters)."""
    problem = name_problem(family, "hardware family")
    if problem is not None:
        raise InvalidFirmware(problem)
    return family


def check_version(version: str) -> str:
    check_text(version, "version")
    if not version.strip() or len(version) > MAX_VERSION:
        raise InvalidFirmware(f"a firmware version has 1-{MAX_VERSION} characters, not only spaces")
    return version


def check_location(location: str) -> str:
    check_text(location, "location")
    if len(location) > MAX_LOCATION:
        raise InvalidFirmware(f"a firmware location has at most {MAX_LOCATION} characters")
    parts = urlsplit(location)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in location:
        raise InvalidFirmware("a firmware location is an http:// or https:// URL with a host")
    return location


class HardwareFamily(Aggregate):
    """One hardware family (as named in production batches) and its latest stable firmware, if any."""

    @staticmethod
    def create_id(family: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:hardware-family:{family}")

    class Registered(Aggregate.Created):
        family: str

    @event(Registered)
    def __init__(self, family: str) -> None:
        self.family = family
        self.stable_version: str | None = None
        self.stable_location: str | None = None
        self.signing_certificate: str | None = None  # for the firmware work: PEM of the image's signer
        self.signature: str | None = None  # base64 signature of the image
        self.set_by: str | None = None

    class StableFirmwareSet(Aggregate.Event):
        version: str
        location: str
        signing_certificate: str | None
        signature: str | None
        by: str

    def set_stable(
        self, version: str, location: str, by: str, signing_certificate: str | None = None, signature: str | None = None
    ) -> None:
        self._stable_set(
            version=check_version(version),
            location=check_location(location),
            signing_certificate=signing_certificate,
            signature=signature,
            by=by,
        )

    @event(StableFirmwareSet)
    def _stable_set(
        self, version: str, location: str, signing_certificate: str | None, signature: str | None, by: str
    ) -> None:
        self.stable_version, self.stable_location, self.set_by = version, location, by
        self.signing_certificate, self.signature = signing_certificate, signature
