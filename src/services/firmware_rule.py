"""The one rule both senders of UpdateFirmware follow: a charger never has two UpdateFirmware outstanding.

Two parts of the platform send it: the enrolment step (``services.firmware``: an enrolled device is brought to
its family's stable firmware at boot) and the rollout campaigns (``services.rollout_dispatch``). Each asks
``outstanding_update`` before it sends, and sends nothing while the other's request is outstanding:
- a campaign's request is outstanding from UpdateFirmware until its outcome (``FirmwareUpdate.in_flight``);
- the enrolment step's from UpdateFirmware until the charger boots again, unless the charger refused it or
  reported a failure (``DownloadFailed``, ``InstallationFailed``, ...).
A campaign's charger whose enrolment update is outstanding waits (as it waits for a transaction to end); the
enrolment step leaves a charger alone while its campaign's update is in flight, and tries again at its next boot.
"""

from __future__ import annotations

from cloudbay_domain.charger import Charger
from cloudbay_domain.device import Device
from cloudbay_domain.firmware_update import ACCEPTED_ANSWERS, STATUS_STAGE, FirmwareUpdate, Stage
from services.store import EventLog


def outstanding_update(log: EventLog, station_id: str) -> str | None:
    """Which UpdateFirmware the charger has outstanding (a sentence), or None: it may be sent one."""
    update: FirmwareUpdate | None = log.load_or_none(FirmwareUpdate.create_id(station_id))
    if update is not None and update.in_flight():
        return f"UpdateFirmware {update.request_id} of the rollout campaign {update.campaign_id}"
    device: Device | None = log.load_or_none(Device.create_id(station_id))
    if device is None or device.firmware_requested_at is None:
        return None
    charger: Charger | None = log.load_or_none(Charger.create_id(station_id))
    booted = charger.last_boot_at if charger is not None else None
    if booted is not None and booted > device.firmware_requested_at:
        return None  # it booted since: the request is settled (ready, or asked again by the step)
    status = device.firmware_status or ""
    if STATUS_STAGE.get(status) is Stage.FAILED or (status not in ACCEPTED_ANSWERS and status not in STATUS_STAGE):
        return None  # refused, failed, or never reached it
    return f"UpdateFirmware {device.firmware_requests} of the enrolment step"
