"""The latest stable firmware of each hardware family, and the step that makes an enrolled device ``ready``.

After each boot of a charger whose device is ``enrolled`` (``after_boot``), the version it booted with is
compared with its family's stable version, as exact text (versions are not ordered: any other version, older,
newer or only spelled otherwise, is not the stable one):
- the same: the device becomes ``ready`` (by ``platform``, saying which version it runs);
- another: it is sent ``UpdateFirmware`` for the stable image (a new request id at each such boot), and the
  request and the charger's answer are recorded; it becomes ready at the boot that reports the stable version;
- the family has no stable version: nothing happens, the device stays ``enrolled``.
A charger's FirmwareStatusNotifications are recorded on its device (a charger without one only logs them).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cloudbay_domain.device import Device, DeviceState
from cloudbay_domain.firmware import HardwareFamily, check_family
from cloudbay_domain.text import check_text
from services.errors import ServiceError
from services.ports import ChargerLink, LinkError, UpdateFirmware
from services.store import EventLog

log = logging.getLogger("cloudbay.firmware")
Runner = Callable[..., Awaitable[Any]]
PLATFORM = "platform"


class UnknownFamily(ServiceError):
    """No hardware family of that name has a record yet."""


class Firmware:
    def __init__(self, log: EventLog, link: ChargerLink, run: Runner) -> None:
        self.log, self.link, self.run = log, link, run

    def family(self, family: str) -> HardwareFamily:
        check_family(family)
        return self.log.load(HardwareFamily.create_id(family), UnknownFamily(f"no hardware family {family} is known"))

    def set_stable(self, family: str, version: str, location: str, by: str) -> HardwareFamily:
        check_family(family)

        def attempt() -> tuple[HardwareFamily, list[Any]]:
            record: HardwareFamily | None = self.log.load_or_none(HardwareFamily.create_id(family))
            record = record if record is not None else HardwareFamily(family)
            record.set_stable(version, location, by)
            return record, [record]

        return self.log.retrying(attempt, f"hardware family {family}")

    # --- the step to ready ----------------------------------------------------------------------

    def _enrolled(self, station_id: str) -> tuple[Device, HardwareFamily] | None:
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        if device is None or device.state is not DeviceState.ENROLLED:
            return None
        family: HardwareFamily | None = self.log.load_or_none(HardwareFamily.create_id(device.hardware_family))
        if family is None or family.stable_version is None:
            return None
        return device, family

    def _make_ready(self, station_id: str, booted: str) -> None:
        def attempt() -> tuple[None, list[Any]]:
            found = self._enrolled(station_id)
            if found is None or found[1].stable_version != booted:
                return None, []
            found[0].move(DeviceState.READY, PLATFORM, f"boots with the stable firmware {booted}")
            return None, [found[0]]

        self.log.retrying(attempt, f"device {station_id}")

    def _record_request(self, station_id: str, request: UpdateFirmware, version: str, status: str) -> None:
        def attempt() -> tuple[None, list[Any]]:
            device: Device = self.log.load(Device.create_id(station_id), ServiceError(station_id))
            device.request_firmware(request.request_id, version, request.location, status)
            return None, [device]

        self.log.retrying(attempt, f"device {station_id}")

    async def after_boot(self, station_id: str, booted: str | None) -> str | None:
        """The step after a boot: ``ready``, ``UpdateFirmware``'s answer, or None (nothing to do). Never raises."""
        try:
            found = await self.run(self._enrolled, station_id)
            if found is None:
                return None
            device, family = found
            assert family.stable_version is not None and family.stable_location is not None
            if booted == family.stable_version:
                await self.run(self._make_ready, station_id, booted)
                log.info("%s runs the stable firmware %s: ready", station_id, booted)
                return DeviceState.READY.value
            request = UpdateFirmware(device.firmware_requests + 1, family.stable_location, datetime.now(UTC))
            try:
                status = (await self.link.request(station_id, request)).status
            except LinkError as e:
                status = e.reason
            await self.run(self._record_request, station_id, request, family.stable_version, status)
            log.info("%s booted %s, sent UpdateFirmware %s: %s", station_id, booted, family.stable_version, status)
            return status
        except Exception:
            log.exception("the stable firmware step of %s failed", station_id)
            return None

    def record_status(self, station_id: str, status: str, request_id: int | None) -> None:
        """A FirmwareStatusNotification (L01): kept on the charger's device, if it has one."""
        check_text(status, "status")

        def attempt() -> tuple[None, list[Any]]:
            device: Device | None = self.log.load_or_none(Device.create_id(station_id))
            if device is None:
                log.info("firmware status of %s (no device): %s", station_id, status)
                return None, []
            device.report_firmware_status(request_id, status)
            return None, [device]

        self.log.retrying(attempt, f"device {station_id}")
