"""``FirmwareUpdate``: one charger's progress through the rollout campaigns it is part of, one small stream per
charger (a handful of events per campaign).

Keeping the progress on the charger's own stream, not the campaign's, keeps every write small and
uncontended: a million chargers reporting at once write a million different streams. The stream is also what
makes "a charger is in one campaign at a time" and "one UpdateFirmware at a time" hold: enlisting and sending
are commands on it, decided under its optimistic-concurrency check.

Stages: ``pending`` (enlisted, not sent yet) → ``requested`` (UpdateFirmware accepted) → ``downloading`` →
``downloaded`` → ``installing`` → ``installed`` → ``succeeded`` (the charger booted the campaign's version) or
``failed`` (a failure status, a refusal, a boot back on the old version after installing (A/B roll-back),
a version nobody installed, silence); ``cancelled`` when its campaign ended before it settled.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.text import check_text


class Stage(str, enum.Enum):
    PENDING = "pending"
    REQUESTED = "requested"
    DOWNLOADING = "downloading"
    DOWNLOADED = "downloaded"
    INSTALLING = "installing"
    INSTALLED = "installed"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


IN_FLIGHT = frozenset({Stage.REQUESTED, Stage.DOWNLOADING, Stage.DOWNLOADED, Stage.INSTALLING, Stage.INSTALLED})
SETTLED = frozenset({Stage.SUCCEEDED, Stage.FAILED, Stage.CANCELLED})
IN_FLIGHT_STAGES = tuple(sorted(s.value for s in IN_FLIGHT))
#: the FirmwareStatusNotification statuses (OCPP 2.0.1 FirmwareStatusEnumType) and the stage each means;
#: Idle changes nothing
STATUS_STAGE: dict[str, Stage | None] = {
    "DownloadScheduled": Stage.DOWNLOADING,
    "Downloading": Stage.DOWNLOADING,
    "DownloadPaused": Stage.DOWNLOADING,
    "Downloaded": Stage.DOWNLOADED,
    "SignatureVerified": Stage.DOWNLOADED,
    "InstallScheduled": Stage.INSTALLING,
    "Installing": Stage.INSTALLING,
    "InstallRebooting": Stage.INSTALLING,
    "Installed": Stage.INSTALLED,
    "DownloadFailed": Stage.FAILED,
    "InstallationFailed": Stage.FAILED,
    "InstallVerificationFailed": Stage.FAILED,
    "InvalidSignature": Stage.FAILED,
    "Idle": None,
}
ACCEPTED_ANSWERS = frozenset({"Accepted", "AcceptedCanceled"})
ROLLED_BACK = "RolledBack"  # the failure reason of a charger that booted its old version after installing
UNKNOWN_VERSION = "UnknownVersion"
SILENT = "Silent"
OFFLINE = "Offline"  # the link's reason when the charger had no connection (services.ports.ChargerOffline)
REQUEST_ID_BASE = 1_000_000  # campaigns' request ids, apart from the enrolment step's (1, 2, ...)


class UnknownFirmwareStatus(ValueError):
    """A FirmwareStatusNotification status that OCPP 2.0.1 does not define."""


class Outcome(str, enum.Enum):
    """What a charger's report did to its update."""

    RECORDED = "recorded"
    NOT_IN_CAMPAIGN = "not-in-campaign"  # no campaign holds it (never enlisted, or settled already)
    NOT_REQUESTED = "not-requested"  # enlisted, but no UpdateFirmware went out yet
    OTHER_REQUEST = "other-request"  # names a request id that is not the campaign's
    CAMPAIGN_ENDED = "campaign-ended"  # its campaign was aborted, rolled back or halted


class FirmwareUpdate(Aggregate):
    """One charger's firmware update state, across campaigns (the current one's fields below)."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:firmware-update:{station_id}")

    class Opened(Aggregate.Created):
        """The charger's first campaign: the stream opens enlisted in it (one event, not two, per charger of a
        campaign's plan); the fields are ``Enlisted``'s."""

        station_id: str
        campaign_id: UUID
        group: int
        time_zone: str
        target_version: str
        location: str
        previous_version: str | None

    @event(Opened)
    def __init__(
        self, station_id: str, campaign_id: UUID, group: int, time_zone: str, target_version: str, location: str,
        previous_version: str | None,
    ) -> None:  # fmt: skip
        self.station_id = station_id
        self.requests = 0  # UpdateFirmware requests sent over all campaigns
        self._enlisted(station_id, campaign_id, group, time_zone, target_version, location, previous_version)

    @classmethod
    def open(
        cls, station_id: str, campaign_id: UUID, group: int, time_zone: str, target_version: str, location: str,
        previous_version: str | None,
    ) -> FirmwareUpdate:  # fmt: skip
        """The stream of a charger in its first campaign."""
        return cls(station_id, campaign_id, group, time_zone, target_version, location, previous_version)

    def holds(self) -> bool:
        """Whether a campaign holds the charger now (it is enlisted and not settled)."""
        return self.stage is not None and self.stage not in SETTLED

    def in_flight(self) -> bool:
        return self.stage in IN_FLIGHT

    class Enlisted(Aggregate.Event):
        station_id: str
        campaign_id: UUID
        group: int
        time_zone: str
        target_version: str
        location: str
        previous_version: str | None

    def enlist(
        self, campaign_id: UUID, group: int, time_zone: str, target_version: str, location: str,
        previous_version: str | None, holder_active: bool,
    ) -> bool:  # fmt: skip
        """Join ``campaign_id`` in ``group``; False (nothing recorded) when another active campaign holds the
        charger (``holder_active``: whether the campaign holding it still runs; an ended one lets go)."""
        if self.holds() and (holder_active or self.in_flight()):
            return False
        if self.holds():
            self._cancel("its campaign ended")
        self._enlisted_event(
            station_id=self.station_id,
            campaign_id=campaign_id, group=group, time_zone=time_zone, target_version=target_version,
            location=location, previous_version=previous_version,
        )  # fmt: skip
        return True

    @event(Enlisted)
    def _enlisted_event(
        self, station_id: str, campaign_id: UUID, group: int, time_zone: str, target_version: str, location: str,
        previous_version: str | None,
    ) -> None:  # fmt: skip
        self._enlisted(station_id, campaign_id, group, time_zone, target_version, location, previous_version)

    def _enlisted(
        self, station_id: str, campaign_id: UUID, group: int, time_zone: str, target_version: str, location: str,
        previous_version: str | None,
    ) -> None:  # fmt: skip
        self.campaign_id: UUID | None = campaign_id
        self.group, self.time_zone = group, time_zone
        self.target_version, self.location, self.previous_version = target_version, location, previous_version
        self.stage: Stage | None = Stage.PENDING
        self.request_id: int | None = None
        self.reason: str | None = None

    class Moved(Aggregate.Event):
        """From one stage to another (or the same, a new status): what the charger said or what happened."""

        campaign_id: UUID
        group: int
        stage_from: str
        stage_to: str
        status: str | None
        reason: str | None
        request_id: int | None

    def _move(self, stage: Stage, status: str | None = None, reason: str | None = None) -> None:
        assert self.campaign_id is not None and self.stage is not None
        self._moved(
            campaign_id=self.campaign_id, group=self.group, stage_from=self.stage.value, stage_to=stage.value,
            status=status, reason=reason, request_id=self.request_id,
        )  # fmt: skip

    @event(Moved)
    def _moved(
        self, campaign_id: UUID, group: int, stage_from: str, stage_to: str, status: str | None,
        reason: str | None, request_id: int | None,
    ) -> None:  # fmt: skip
        self.stage, self.reason, self.request_id = Stage(stage_to), reason, request_id

    class Requested(Aggregate.Event):
        """UpdateFirmware ``request_id`` is about to go out: saved before it is sent, so that of two senders
        only one wins the stream's next version, and only one request is ever sent."""

        campaign_id: UUID
        group: int
        request_id: int

    def request(self) -> int:
        """Reserve the next request id and move to ``requested``; then send it, then record ``answered``."""
        if self.stage is not Stage.PENDING or self.campaign_id is None:
            raise ValueError(f"an update {self.stage} is not sent UpdateFirmware")
        request_id = REQUEST_ID_BASE + self.requests + 1
        self._requested(campaign_id=self.campaign_id, group=self.group, request_id=request_id)
        return request_id

    @event(Requested)
    def _requested(self, campaign_id: UUID, group: int, request_id: int) -> None:
        self.requests, self.request_id, self.stage = self.requests + 1, request_id, Stage.REQUESTED

    def answered(self, answer: str) -> None:
        """The charger's answer to the request (or the reason it got none): accepted, it stays ``requested``;
        offline, it is ``pending`` again (sent when it is back); anything else fails it."""
        if self.stage is not Stage.REQUESTED:
            return
        if answer in ACCEPTED_ANSWERS:
            return
        if answer == OFFLINE:
            self._move(Stage.PENDING, None, OFFLINE)
        else:
            self._move(Stage.FAILED, None, f"UpdateFirmware: {check_text(answer, 'answer')[:60]}")

    def report(self, status: str, request_id: int | None) -> Outcome:
        """A FirmwareStatusNotification."""
        if status not in STATUS_STAGE:
            raise UnknownFirmwareStatus(f"{check_text(status, 'status')[:60]!r} is no FirmwareStatus")
        if not self.holds():
            return Outcome.NOT_IN_CAMPAIGN
        if self.stage is Stage.PENDING:
            return Outcome.NOT_REQUESTED
        if request_id is not None and request_id != self.request_id:
            return Outcome.OTHER_REQUEST
        stage = STATUS_STAGE[status]
        assert self.stage is not None
        self._move(stage or self.stage, status, status if stage is Stage.FAILED else None)
        return Outcome.RECORDED

    def booted(self, version: str | None) -> Outcome:
        """A BootNotification reporting ``version``: the campaign's version succeeds. After installing, the
        version it had before is an A/B roll-back (failed), and any other version one no image of the campaign
        has (failed). Before installing, a boot on any other version changes nothing (it rebooted meanwhile)."""
        if not self.holds():
            return Outcome.NOT_IN_CAMPAIGN
        if version == self.target_version:
            self._move(Stage.SUCCEEDED, "Booted", None)
        elif self.stage in (Stage.INSTALLING, Stage.INSTALLED):
            if version == self.previous_version:
                self._move(Stage.FAILED, "Booted", ROLLED_BACK)
            else:
                self._move(Stage.FAILED, "Booted", f"{UNKNOWN_VERSION}: {check_text(str(version), 'version')[:50]}")
        elif self.stage is Stage.PENDING:
            return Outcome.NOT_REQUESTED
        return Outcome.RECORDED

    def silent_since(self, now: datetime, timeout: int) -> bool:
        """Whether an update in flight has not been heard of for ``timeout`` seconds (its last event is the
        last word from the charger: nothing else writes this stream while the update is in flight)."""
        return self.in_flight() and now - self.modified_on >= timedelta(seconds=timeout)

    def expire(self) -> None:
        """It went silent: failed."""
        self._move(Stage.FAILED, None, SILENT)

    def cancel(self, why: str) -> Outcome:
        """Its campaign ended before the charger settled: let it go."""
        if not self.holds():
            return Outcome.NOT_IN_CAMPAIGN
        self._cancel(why)
        return Outcome.CAMPAIGN_ENDED

    def _cancel(self, why: str) -> None:
        self._move(Stage.CANCELLED, None, why)
