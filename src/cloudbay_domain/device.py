"""A manufactured device: where it is in the production pipeline, its MAC, and its codes' hashes.

The pipeline is ``manufactured -> enrolled -> ready -> released``; any state before ``released`` may go to
``scrapped``. ``released`` and ``scrapped`` are final. A device becomes ``enrolled`` when its charger accepts
the certificate the platform signed for it (``services.certificates``), and ``ready`` when it boots running
its hardware family's latest stable firmware (``services.firmware``: one that runs another version is sent
``UpdateFirmware`` first). A release from ``manufactured`` or ``enrolled`` is allowed only when asked for
explicitly (``allow_unenrolled``).

The device lives beside its ``Charger`` aggregate (same station id), which keeps everything the charger
says over OCPP: a charger whitelisted by hand (``cloudbay chargers add``) has no device and is outside the
pipeline (its state reads ``whitelisted``). Release checks the box security code; ten wrong codes in a row
lock release until an operator unlocks it. Every step is an event naming who took it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class DeviceState(str, enum.Enum):
    MANUFACTURED = "manufactured"
    ENROLLED = "enrolled"
    READY = "ready"
    RELEASED = "released"
    SCRAPPED = "scrapped"


WHITELISTED = "whitelisted"  # the state a charger without a device (whitelisted by hand) is shown in
STATES = (WHITELISTED, *(s.value for s in DeviceState))
MAX_FAILED_RELEASES = 10

_S = DeviceState
TRANSITIONS: dict[DeviceState, frozenset[DeviceState]] = {
    _S.MANUFACTURED: frozenset({_S.ENROLLED, _S.SCRAPPED}),
    _S.ENROLLED: frozenset({_S.READY, _S.SCRAPPED}),
    _S.READY: frozenset({_S.RELEASED, _S.SCRAPPED}),
    _S.RELEASED: frozenset(),
    _S.SCRAPPED: frozenset(),
}
# released early, only with allow_unenrolled: from manufactured (not enrolled), or from enrolled (before the
# stable firmware made it ready)
EARLY_RELEASE = frozenset({_S.MANUFACTURED, _S.ENROLLED})


def allowed(state: DeviceState, to: DeviceState, allow_unenrolled: bool = False) -> bool:
    return to in TRANSITIONS[state] or (allow_unenrolled and to is _S.RELEASED and state in EARLY_RELEASE)


class DeviceError(Exception):
    """A command the pipeline's rules do not allow."""


class InvalidTransition(DeviceError):
    def __init__(self, station_id: str, state: str, to: str) -> None:
        super().__init__(f"charger {station_id} is {state}: it cannot become {to}")
        self.state, self.to = state, to


class ReleaseLocked(DeviceError):
    def __init__(self, station_id: str) -> None:
        super().__init__(
            f"release of charger {station_id} is locked after {MAX_FAILED_RELEASES} wrong box codes in a row;"
            " an operator must unlock it"
        )


class NotLocked(DeviceError):
    pass


class Device(Aggregate):
    """One device of a production batch, identified by its station id (= its serial number)."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:device:{station_id}")

    class Manufactured(Aggregate.Created):
        station_id: str
        batch_id: str
        model: str
        hardware_family: str
        mac_address: str
        key_id: str
        pairing_hash: str
        box_hash: str
        manufactured_by: str

    @event(Manufactured)
    def __init__(
        self,
        station_id: str,
        batch_id: str,
        model: str,
        hardware_family: str,
        mac_address: str,
        key_id: str,
        pairing_hash: str,
        box_hash: str,
        manufactured_by: str,
    ) -> None:
        self.station_id, self.batch_id, self.model = station_id, batch_id, model
        self.hardware_family, self.mac_address, self.key_id = hardware_family, mac_address, key_id
        self.pairing_hash, self.box_hash = pairing_hash, box_hash
        self.state = DeviceState.MANUFACTURED
        self.failed_releases = 0
        self.locked = False
        self.firmware_requests = 0  # UpdateFirmware requests sent; the last one's id is this count
        self.firmware_version: str | None = None  # the version the last request installs
        self.firmware_status: str | None = None  # the charger's answer, then its FirmwareStatusNotifications
        self.firmware_requested_at: datetime | None = None

    # --- the pipeline -----------------------------------------------------------------------

    def check_move(self, to: DeviceState, allow_unenrolled: bool = False) -> None:
        if not allowed(self.state, to, allow_unenrolled):
            raise InvalidTransition(self.station_id, self.state.value, to.value)

    def move(self, to: DeviceState, by: str, reason: str = "", allow_unenrolled: bool = False) -> None:
        """Take one step of the pipeline; ``InvalidTransition`` (naming the current state) otherwise."""
        self.check_move(to, allow_unenrolled)
        self._state_changed(state_from=self.state.value, state_to=to.value, by=by, reason=reason)

    class StateChanged(Aggregate.Event):
        state_from: str
        state_to: str
        by: str
        reason: str

    @event(StateChanged)
    def _state_changed(self, state_from: str, state_to: str, by: str, reason: str) -> None:
        self.state = DeviceState(state_to)

    # --- release ------------------------------------------------------------------------------

    def check_release(self, allow_unenrolled: bool) -> None:
        """Whether a release may be tried at all (before any code is checked)."""
        self.check_move(DeviceState.RELEASED, allow_unenrolled)
        if self.locked:
            raise ReleaseLocked(self.station_id)

    def release(self, by: str, allow_unenrolled: bool) -> None:
        """Release with the right box code (checked by the caller against ``box_hash``)."""
        self.check_release(allow_unenrolled)
        early = {DeviceState.MANUFACTURED: "unenrolled", DeviceState.ENROLLED: "before ready"}.get(self.state)
        reason = f"released {early} (allow_unenrolled)" if early else ""
        self.move(DeviceState.RELEASED, by, reason, allow_unenrolled)

    class ReleaseRefused(Aggregate.Event):
        """A wrong box code was given (the code itself is not recorded)."""

        by: str
        failed_attempts: int
        locked: bool

    def refuse_release(self, by: str) -> None:
        attempts = self.failed_releases + 1
        self._release_refused(by=by, failed_attempts=attempts, locked=attempts >= MAX_FAILED_RELEASES)

    @event(ReleaseRefused)
    def _release_refused(self, by: str, failed_attempts: int, locked: bool) -> None:
        self.failed_releases, self.locked = failed_attempts, locked

    class ReleaseUnlocked(Aggregate.Event):
        by: str

    def unlock(self, by: str) -> None:
        if not self.locked:
            raise NotLocked(f"release of charger {self.station_id} is not locked")
        self._release_unlocked(by=by)

    @event(ReleaseUnlocked)
    def _release_unlocked(self, by: str) -> None:
        self.failed_releases, self.locked = 0, False

    # --- the stable firmware ----------------------------------------------------------------

    class FirmwareUpdateRequested(Aggregate.Event):
        """``UpdateFirmware`` request ``request_id`` was sent for ``version``; ``status`` is the charger's answer."""

        request_id: int
        version: str
        location: str
        status: str
        requested_at: datetime

    @event(FirmwareUpdateRequested)
    def request_firmware(
        self, request_id: int, version: str, location: str, status: str, requested_at: datetime
    ) -> None:
        self.firmware_requests, self.firmware_version, self.firmware_status = request_id, version, status
        self.firmware_requested_at = requested_at

    class FirmwareStatusReported(Aggregate.Event):
        """A FirmwareStatusNotification: ``status`` of request ``request_id`` (None: the charger named none)."""

        request_id: int | None
        status: str

    @event(FirmwareStatusReported)
    def report_firmware_status(self, request_id: int | None, status: str) -> None:
        self.firmware_status = status

    # --- audit ----------------------------------------------------------------------------------

    class LabelIssued(Aggregate.Event):
        """Someone got a label of this device: ``label`` charger or box, ``media`` svg or png."""

        label: str
        media: str
        by: str

    @event(LabelIssued)
    def issue_label(self, label: str, media: str, by: str) -> None:
        """Record who got which label (the box label carries the secret code)."""

    @property
    def connectable(self) -> bool:
        """A scrapped device never connects again."""
        return self.state is not DeviceState.SCRAPPED
