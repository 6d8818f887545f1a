"""The one port for talking to a charger: the application layer's interface, the adapters' job.

A service sends a request (a frozen value object below) to a station and gets its answer object back, or one
of the ``LinkError`` subclasses. Nothing here knows WebSockets or OCPP frames: the in-process implementation
lives in the OCPP adapter (``adapters.ocpp.link``); a broker-backed one can route the same requests to the node
holding the charger's connection without any service changing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from services.errors import ServiceError

A = TypeVar("A")
A_co = TypeVar("A_co", covariant=True)


class LinkError(ServiceError):
    """A request got no usable answer; ``reason`` is what is recorded and shown (Offline, Timeout, a code)."""

    reason = "GenericError"


class ChargerOffline(LinkError):
    reason = "Offline"


class CallTimedOut(LinkError):
    reason = "Timeout"


class CallFailed(LinkError):
    """The charger answered with an OCPP CALLERROR (``reason`` is its code), or an answer we cannot read."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = code


class ChargerRequest(Generic[A_co]):
    """Base of every request; ``A_co`` is the type of its answer."""


# --- the requests, each with its answer ----------------------------------------------------------


@dataclass(frozen=True)
class StatusAnswer:
    """The answer of requests that answer only a status (Accepted, Rejected, ...)."""

    status: str


@dataclass(frozen=True)
class StartAnswer:
    status: str
    transaction_id: str | None


@dataclass(frozen=True)
class RequestStart(ChargerRequest[StartAnswer]):
    """Start charging (F01/F02) with ``id_token`` of ``id_token_type``; the charger reports ``remote_start_id``."""

    id_token: str
    id_token_type: str
    remote_start_id: int
    evse_id: int | None = None


@dataclass(frozen=True)
class RequestStop(ChargerRequest[StatusAnswer]):
    """Stop the charger's transaction ``transaction_id`` (F03)."""

    transaction_id: str


@dataclass(frozen=True)
class SetVariable(ChargerRequest[StatusAnswer]):
    """Set one configuration variable (B05); the answer is its attribute status."""

    component: str
    variable: str
    value: str


@dataclass(frozen=True)
class VersionAnswer:
    version: int


@dataclass(frozen=True)
class VariableAnswer:
    """One variable's read: ``status`` Accepted (then ``value``), Rejected, UnknownComponent, UnknownVariable..."""

    status: str
    value: str | None = None


@dataclass(frozen=True)
class GetVariable(ChargerRequest[VariableAnswer]):
    """Read one configuration variable's actual value (B06 GetVariables)."""

    component: str
    variable: str


@dataclass(frozen=True)
class GetLocalListVersion(ChargerRequest[VersionAnswer]):
    """Which local authorization list version the charger holds (D02)."""


@dataclass(frozen=True)
class LocalListEntry:
    id_token: str
    id_token_type: str
    status: str | None  # None: removed (a Differential update)


@dataclass(frozen=True)
class SendLocalList(ChargerRequest[StatusAnswer]):
    """Replace (Full) or patch (Differential) the charger's local authorization list (D01)."""

    version: int
    update_type: str
    entries: tuple[LocalListEntry, ...]


@dataclass(frozen=True)
class Reset(ChargerRequest[StatusAnswer]):
    """Reboot the charger, or one EVSE (B11/B12): ``kind`` Immediate or OnIdle."""

    kind: str
    evse_id: int | None = None


@dataclass(frozen=True)
class InstallCertificate(ChargerRequest[StatusAnswer]):
    """Install the certificate the CSMS signed (A02/A03 CertificateSigned): ``chain_pem`` is the leaf first."""

    chain_pem: str
    certificate_type: str


@dataclass(frozen=True)
class TriggerMessage(ChargerRequest[StatusAnswer]):
    """Ask the charger to send ``message`` now (F06), e.g. SignChargingStationCertificate to renew (A03)."""

    message: str


@dataclass(frozen=True)
class UpdateFirmware(ChargerRequest[StatusAnswer]):
    """Install the firmware image at ``location`` (L01), fetched from ``retrieve_at`` on; ``request_id`` is named
    again in the charger's FirmwareStatusNotifications. A signed image comes with its signature and the signing
    certificate (the charger verifies it before installing)."""

    request_id: int
    location: str
    retrieve_at: datetime
    signature: str | None = None  # base64, over the image
    signing_certificate: str | None = None  # PEM of the certificate that verifies the signature
    retries: int | None = None  # how often the charger tries the download again
    retry_interval: int | None = None  # seconds between its tries


@dataclass(frozen=True)
class PublishFirmware(ChargerRequest[StatusAnswer]):
    """A local controller downloads the image at ``location`` and serves it to its chargers (L03); ``checksum``
    is the image's MD5 in hex, as OCPP names it."""

    request_id: int
    location: str
    checksum: str
    retries: int | None = None
    retry_interval: int | None = None


@dataclass(frozen=True)
class UnpublishFirmware(ChargerRequest[StatusAnswer]):
    """The local controller stops serving the image of ``checksum`` (L04)."""

    checksum: str


@dataclass(frozen=True)
class SchedulePeriod:
    """One period of a charging schedule: from ``start_period`` seconds after the schedule's start, at most
    ``limit`` in the schedule's rate unit (W or A), on ``number_phases`` phases (None: the charger's default)."""

    start_period: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    """A charging profile (2.0.1 ChargingProfileType with its one ChargingSchedule): ``purpose`` TxProfile,
    TxDefaultProfile or ChargingStationMaxProfile; ``kind`` Absolute (from ``start``) or Relative."""

    id: int
    stack_level: int
    purpose: str
    kind: str
    rate_unit: str
    periods: tuple[SchedulePeriod, ...]
    start: datetime | None = None
    duration: int | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: str | None = None


@dataclass(frozen=True)
class SetChargingProfile(ChargerRequest[StatusAnswer]):
    """Install ``profile`` on EVSE ``evse_id`` (0: the whole station) (K01)."""

    evse_id: int
    profile: ChargingProfile


@dataclass(frozen=True)
class ClearChargingProfile(ChargerRequest[StatusAnswer]):
    """Remove the profile ``profile_id``, or every profile matching the criteria given (K10); Unknown: none."""

    profile_id: int | None = None
    evse_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


@dataclass(frozen=True)
class CompositeAnswer:
    """What the charger will do (K08): from ``start``, ``periods`` in ``rate_unit``, for ``duration`` seconds."""

    status: str
    start: datetime | None = None
    duration: int | None = None
    rate_unit: str | None = None
    periods: tuple[SchedulePeriod, ...] = ()


@dataclass(frozen=True)
class GetCompositeSchedule(ChargerRequest[CompositeAnswer]):
    """The schedule EVSE ``evse_id`` will follow over the next ``duration`` seconds, in ``rate_unit`` if given."""

    duration: int
    evse_id: int
    rate_unit: str | None = None


class ChargerLink(Protocol):
    """Sends requests to chargers. One outstanding request per charger is the implementation's duty."""

    def is_reachable(self, station_id: str) -> bool:
        """Whether a request to the station can be sent now (it has an open connection somewhere)."""
        ...

    def reachable_stations(self) -> list[str]:
        """Every station a request can be sent to now."""
        ...

    async def request(self, station_id: str, request: ChargerRequest[A], timeout: float | None = None) -> A:
        """Send ``request`` and wait for its answer; ``ChargerOffline``, ``CallTimedOut`` or ``CallFailed``."""
        ...


class NoLink:
    """A link to nowhere, for processes that hold no charger connections (the CLI, the projector, tests)."""

    def is_reachable(self, station_id: str) -> bool:
        return False

    def reachable_stations(self) -> list[str]:
        return []

    async def request(self, station_id: str, request: ChargerRequest[A], timeout: float | None = None) -> A:
        raise ChargerOffline(f"charger {station_id} is offline")
