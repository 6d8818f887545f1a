"""The production pipeline of a device: release (with its box security code), scrap, unlock; and the codes
printed on its labels, derived again from the manufacturing key each time (who got them is recorded)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from cloudbay_domain.batch import ProductionBatch
from cloudbay_domain.charger import Charger
from cloudbay_domain.codes import BOX, DeviceCodes, scanned_code
from cloudbay_domain.device import WHITELISTED, Device, DeviceState
from services.batches import CodeHasher, CodeKeys, load_batch
from services.chargers import not_whitelisted
from services.errors import ServiceError
from services.store import EventLog

R = TypeVar("R")


class NotInPipeline(ServiceError):
    """A charger whitelisted by hand: it has no device, so no pipeline, codes or labels."""

    state = WHITELISTED


class WrongBoxCode(ServiceError):
    def __init__(self, station_id: str, failed_attempts: int, locked: bool) -> None:
        then = "release is now locked until an operator unlocks it" if locked else "only the attempt was recorded"
        super().__init__(f"that is not the box security code of charger {station_id}; {then}")
        self.failed_attempts, self.locked = failed_attempts, locked


class Pipeline:
    def __init__(self, log: EventLog, keys: CodeKeys, hasher: CodeHasher) -> None:
        self.log, self.keys, self.hasher = log, keys, hasher

    def device(self, station_id: str) -> Device:
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        if device is not None:
            return device
        if Charger.create_id(station_id) in self.log.repository:
            raise NotInPipeline(f"charger {station_id} was whitelisted by hand: it is not in the production pipeline")
        raise not_whitelisted(station_id)

    def _change(self, station_id: str, command: Callable[[Device], R]) -> R:
        def attempt() -> tuple[R, list[Any]]:
            device = self.device(station_id)
            return command(device), [device]

        return self.log.retrying(attempt, f"device {station_id}")

    def release(self, station_id: str, box_code: str, by: str, allow_unenrolled: bool = False) -> Device:
        """Release a device with its box security code (as typed, or the box label's payload). A wrong code
        records only that a wrong code was given, and raises ``WrongBoxCode``; the tenth in a row locks release."""

        def release(device: Device) -> Device:
            device.check_release(allow_unenrolled)
            code = scanned_code(box_code, BOX, station_id)
            if code is not None and self.hasher.verify(device.box_hash, code):
                device.release(by, allow_unenrolled)
            else:
                device.refuse_release(by)
            return device

        device = self._change(station_id, release)
        if device.state is not DeviceState.RELEASED:
            raise WrongBoxCode(station_id, device.failed_releases, device.locked)
        return device

    def scrap(self, station_id: str, by: str, reason: str = "") -> Device:
        """Scrap a device that failed on the line: it never connects again, its MAC is never handed out again."""

        def scrap(device: Device) -> Device:
            device.move(DeviceState.SCRAPPED, by, reason)
            return device

        return self._change(station_id, scrap)

    def unlock(self, station_id: str, by: str) -> Device:
        def unlock(device: Device) -> Device:
            device.unlock(by)
            return device

        return self._change(station_id, unlock)

    def label(self, station_id: str, label: str, media: str, by: str) -> tuple[Device, DeviceCodes]:
        """The device's codes, derived again under the key its codes were made with; who asked is recorded."""

        def issue(device: Device) -> Device:
            device.issue_label(label, media, by)
            return device

        device = self.device(station_id)
        codes = DeviceCodes.derive(self.keys.key(device.key_id), station_id)  # refused before anything is recorded
        return self._change(station_id, issue), codes

    def batch_codes(self, batch_id: str, document: str, by: str) -> tuple[ProductionBatch, list[DeviceCodes]]:
        """Every device's codes of a batch (for its label sheet or device list); who asked is recorded."""

        def issue() -> tuple[ProductionBatch, list[Any]]:
            batch = load_batch(self.log, batch_id)
            batch.issue_document(document, by)
            return batch, [batch]

        batch = load_batch(self.log, batch_id)
        key = self.keys.key(batch.key_id)
        codes = [DeviceCodes.derive(key, serial) for serial, _, _ in batch.devices]
        return self.log.retrying(issue, f"batch {batch_id}"), codes

    def is_scrapped(self, station_id: str) -> bool:
        device: Device | None = self.log.load_or_none(Device.create_id(station_id))
        return device is not None and not device.connectable
