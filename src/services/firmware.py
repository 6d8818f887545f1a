"""The latest stable firmware of each hardware family, and the step that makes an enrolled device ``ready``.

After each boot of a charger whose device is ``enrolled`` (``after_boot``), the version it booted with is
compared with its family's stable version, as exact text (versions are not ordered: any other version, older,
newer or only spelled otherwise, is not the stable one):
- the same: the device becomes ``ready`` (by ``platform``, saying which version it runs);
- another: it is sent ``UpdateFirmware`` for the stable image (a new request id at each such boot, one per
  boot at most), and the request and the charger's answer are recorded; it becomes ready at the boot that
  reports the stable version;
- the family has no stable version: nothing happens, the device stays ``enrolled``.
The step reads the charger's latest boot as recorded (``Charger.last_boot_at``, ``firmware_version``), so it
runs the same after a boot and after an enrolment (a charger that booted, then enrolled in the same connection).
A charger's FirmwareStatusNotifications are recorded on its device (a charger without one only logs them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from cloudbay_domain.charger import Charger
from cloudbay_domain.device import Device, DeviceState
from cloudbay_domain.firmware import HardwareFamily, check_family
from cloudbay_domain.text import check_text
from services.errors import ServiceError
from services.firmware_rule import outstanding_update
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
        self._locks: dict[str, asyncio.Lock] = {}

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

    def _due(self, station_id: str) -> tuple[Device, HardwareFamily, str | None] | None:
        """An enrolled device whose family has a stable version and whose charger booted since the last
        ``UpdateFirmware`` (or never was sent one), with the version of that boot; None otherwise."""
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        if device is None or device.state is not DeviceState.ENROLLED:
            return None
        family: HardwareFamily | None = self.log.load_or_none(HardwareFamily.create_id(device.hardware_family))
        charger: Charger | None = self.log.load_or_none(Charger.create_id(station_id))
        if family is None or family.stable_version is None or charger is None or charger.last_boot_at is None:
            return None
        sent = device.firmware_requested_at
        if sent is not None and sent >= charger.last_boot_at:
            return None  # this boot was answered already
        return device, family, charger.firmware_version

    def _make_ready(self, station_id: str) -> bool:
        def attempt() -> tuple[bool, list[Any]]:
            found = self._due(station_id)
            if found is None or found[1].stable_version != found[2]:
                return False, []
            found[0].move(DeviceState.READY, PLATFORM, f"boots with the stable firmware {found[2]}")
            return True, [found[0]]

        return self.log.retrying(attempt, f"device {station_id}")

    def _record_request(self, station_id: str, request: UpdateFirmware, version: str, status: str) -> None:
        def attempt() -> tuple[None, list[Any]]:
            device: Device = self.log.load(Device.create_id(station_id), ServiceError(station_id))
            device.request_firmware(request.request_id, version, request.location, status, request.retrieve_at)
            return None, [device]

        self.log.retrying(attempt, f"device {station_id}")

    async def bring_to_stable(self, station_id: str) -> str | None:
        """The step, after a boot or an enrolment: ``ready``, ``UpdateFirmware``'s answer, or None (nothing to
        do). One at a time per charger, and one request per boot at most. Never raises."""
        try:
            async with self._locks.setdefault(station_id, asyncio.Lock()):
                return await self._step(station_id)
        except Exception:
            log.exception("the stable firmware step of %s failed", station_id)
            return None

    async def _step(self, station_id: str) -> str | None:
        found = await self.run(self._due, station_id)
        if found is None:
            return None
        device, family, booted = found
        assert family.stable_version is not None and family.stable_location is not None
        if booted == family.stable_version:
            if not await self.run(self._make_ready, station_id):
                return None
            log.info("%s runs the stable firmware %s: ready", station_id, booted)
            return DeviceState.READY.value
        busy = await self.run(outstanding_update, self.log, station_id)
        if busy is not None:  # one UpdateFirmware at a time (services.firmware_rule): again at the next boot
            log.info("%s booted %s; not sent the stable firmware while %s is outstanding", station_id, booted, busy)
            return None
        request = UpdateFirmware(device.firmware_requests + 1, family.stable_location, datetime.now(UTC))
        try:
            status = (await self.link.request(station_id, request)).status
        except LinkError as e:
            status = e.reason
        await self.run(self._record_request, station_id, request, family.stable_version, status)
        log.info("%s booted %s, sent UpdateFirmware %s: %s", station_id, booted, family.stable_version, status)
        return status

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
