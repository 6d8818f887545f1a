"""The one rule of UpdateFirmware (``services.firmware_rule``): the enrolment step and the campaigns each see the
other's outstanding request, and a settled one (a boot since, a refusal, a failure) no longer counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from cloudbay_domain.charger import Charger
from cloudbay_domain.device import Device
from cloudbay_domain.firmware_update import FirmwareUpdate
from cloudbay_domain.reports import BootReport
from services.firmware_rule import outstanding_update
from services.store import EventLog

T0 = datetime(2026, 12, 1, 10, tzinfo=UTC)


def log() -> EventLog:
    return EventLog(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})


def booted(events: EventLog, station_id: str, at: datetime) -> None:
    charger: Charger | None = events.load_or_none(Charger.create_id(station_id))
    if charger is None:
        charger = Charger.whitelist(station_id, "f")
        charger.connect("s-1", "node")
    charger.boot(BootReport("PowerUp", "CloudBay", "CB", None, "1.0.0", at))
    events.save(charger)


def test_a_campaign_update_in_flight_holds_off_the_enrolment_step() -> None:
    events = log()
    update = FirmwareUpdate.open("CH-1", uuid4(), 0, "UTC", "2.0.0", "https://x.example/f.bin", "1.0.0")
    events.save(update)
    assert outstanding_update(events, "CH-1") is None  # enlisted, nothing sent yet
    request_id = update.request()
    events.save(update)
    assert f"UpdateFirmware {request_id} of the rollout campaign" in str(outstanding_update(events, "CH-1"))
    update.answered("Rejected")
    events.save(update)
    assert outstanding_update(events, "CH-1") is None


def test_the_enrolment_request_holds_off_campaigns_until_the_next_boot() -> None:
    events = log()
    booted(events, "CH-2", T0)
    device = Device("CH-2", "B-1", "CB", "f", "02:00:00:00:00:01", "k", "h", "b", "line")
    device.request_firmware(1, "2.0.0", "https://x.example/f.bin", "Accepted", T0 + timedelta(seconds=1))
    events.save(device)
    assert outstanding_update(events, "CH-2") == "UpdateFirmware 1 of the enrolment step"
    device.report_firmware_status(1, "Downloading")
    events.save(device)
    assert outstanding_update(events, "CH-2") is not None
    device.report_firmware_status(1, "DownloadFailed")
    events.save(device)
    assert outstanding_update(events, "CH-2") is None  # failed: settled
    device.request_firmware(2, "2.0.0", "https://x.example/f.bin", "Accepted", T0 + timedelta(seconds=2))
    events.save(device)
    assert outstanding_update(events, "CH-2") is not None
    booted(events, "CH-2", T0 + timedelta(seconds=3))
    assert outstanding_update(events, "CH-2") is None  # it booted since


def test_a_refused_enrolment_request_is_not_outstanding() -> None:
    events = log()
    device = Device("CH-3", "B-1", "CB", "f", "02:00:00:00:00:02", "k", "h", "b", "line")
    device.request_firmware(1, "2.0.0", "https://x.example/f.bin", "Offline", T0)
    events.save(device)
    assert outstanding_update(events, "CH-3") is None
