"""Production batches: importing one (chargers, devices, MAC addresses, code hashes in one save), the MAC pool.

An import is one ``save`` of every aggregate it makes: the batch, the MAC pool's allocation, and per device its
``Charger`` (whitelisted) and its ``Device`` (manufactured). A refused or failed import writes nothing. Two
imports racing both load the MAC pool at one version; the store saves only one of them and the other is
decided again from a fresh load (``EventLog.retrying``), so no address is handed out twice.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from cloudbay_domain.batch import BadRow, BatchRefused, BatchSpec, DeviceSpec, ProductionBatch
from cloudbay_domain.charger import Charger
from cloudbay_domain.codes import DeviceCodes
from cloudbay_domain.device import Device
from cloudbay_domain.mac import MacBlock, MacPool, addresses
from services.errors import ServiceError
from services.store import EventLog

HASH_CHUNK = 250  # devices hashed between two progress reports
Progress = Callable[[int, int], None]  # (devices done, devices in all)


class CodeKeys(Protocol):
    """The manufacturing keys the codes derive from (kept outside the event store)."""

    def current(self) -> tuple[str, bytes]: ...
    def key(self, key_id: str) -> bytes: ...


class CodeHasher(Protocol):
    """A salted slow hash of a code, and its constant-time check."""

    def hash(self, code: str) -> str: ...
    def verify(self, hashed: str, code: str) -> bool: ...


class UnknownBatch(ServiceError):
    pass


class SerialsTaken(BatchRefused):
    """Serial numbers of the batch are chargers already (whitelisted by hand, or in another batch)."""


def load_batch(log: EventLog, batch_id: str) -> ProductionBatch:
    batch: ProductionBatch = log.load(ProductionBatch.create_id(batch_id), UnknownBatch(f"no batch {batch_id}"))
    return batch


@dataclass(frozen=True)
class Imported:
    batch: ProductionBatch
    created: bool  # False: the same batch was there already, nothing was written


class Batches:
    def __init__(self, log: EventLog, keys: CodeKeys, hasher: CodeHasher, mac_block: MacBlock | None = None) -> None:
        self.log, self.keys, self.hasher, self.mac_block = log, keys, hasher, mac_block
        self.hash_threads = max(2, min(8, os.cpu_count() or 2))  # argon2 releases the GIL

    def get(self, batch_id: str) -> ProductionBatch:
        return load_batch(self.log, batch_id)

    def import_batch(self, spec: BatchSpec, by: str, progress: Progress | None = None) -> Imported:
        """Import ``spec``: every device a whitelisted charger in state ``manufactured``, with a MAC address and
        its codes' hashes. The same batch again answers the batch there, writing nothing."""
        batch_id = ProductionBatch.create_id(spec.resolved_id)
        if (existing := self._existing(batch_id, spec)) is not None:
            return existing
        key_id, key = self.keys.current()
        hashes = self._hashes(key, spec.devices, progress)
        attempts = 0

        def attempt() -> tuple[Imported, list[Any]]:
            nonlocal attempts
            attempts += 1
            if (again := self._existing(batch_id, spec)) is not None:
                return again, []
            if attempts > 1:  # the save failed: a lost race for the pool, or serials that are chargers already
                self._check_serials_free(spec.devices)
            pool = self._pool()
            ranges = pool.allocate(spec.resolved_id, len(spec.devices))
            batch = ProductionBatch.import_spec(spec, ranges, key_id, by)
            made: list[Any] = [pool, batch]
            for device, mac, (pairing, box) in zip(spec.devices, addresses(ranges), hashes, strict=True):
                made.append(Charger.whitelist(device.serial_number, device.hardware_family))
                made.append(self._device(spec, device, mac, key_id, pairing, box, by))
            return Imported(batch, True), made

        return self.log.retrying(attempt, f"batch {spec.resolved_id}")

    def _existing(self, batch_id: Any, spec: BatchSpec) -> Imported | None:
        batch: ProductionBatch | None = self.log.load_or_none(batch_id)
        if batch is None:
            return None
        batch.check_same(spec)
        return Imported(batch, False)

    def _hashes(self, key: bytes, devices: Sequence[DeviceSpec], progress: Progress | None) -> list[tuple[str, str]]:
        """The (pairing, box) code hashes of every device, hashed in threads."""

        def hashed(device: DeviceSpec) -> tuple[str, str]:
            codes = DeviceCodes.derive(key, device.serial_number)
            return self.hasher.hash(codes.pairing), self.hasher.hash(codes.box)

        out: list[tuple[str, str]] = []
        with ThreadPoolExecutor(self.hash_threads, thread_name_prefix="code-hash") as pool:
            for start in range(0, len(devices), HASH_CHUNK):
                out.extend(pool.map(hashed, devices[start : start + HASH_CHUNK]))
                if progress is not None:
                    progress(len(out), len(devices))
        return out

    def _check_serials_free(self, devices: Sequence[DeviceSpec]) -> None:
        taken = [
            BadRow(n, "a charger with this serial number exists already", d.serial_number)
            for n, d in enumerate(devices, start=1)
            if Charger.create_id(d.serial_number) in self.log.repository
        ]
        if taken:
            raise SerialsTaken(
                f"{len(taken)} serial numbers of the batch are chargers already; nothing imported", taken
            )

    def _pool(self) -> MacPool:
        pool: MacPool = self.log.load_or_none(MacPool.create_id()) or MacPool.open()
        if self.mac_block is not None:
            pool.add_block(self.mac_block, "CLOUDBAY_MAC_BLOCK")
        return pool

    @staticmethod
    def _device(spec: BatchSpec, d: DeviceSpec, mac: str, key_id: str, pairing: str, box: str, by: str) -> Device:
        return Device(
            station_id=d.serial_number,
            batch_id=spec.resolved_id,
            model=d.model,
            hardware_family=d.hardware_family,
            mac_address=mac,
            key_id=key_id,
            pairing_hash=pairing,
            box_hash=box,
            manufactured_by=by,
        )

    # --- MAC blocks -----------------------------------------------------------------------------

    def add_mac_block(self, block: MacBlock, by: str) -> bool:
        """Add a block to the pool (an overlapping one is refused); False when it is there already."""

        def attempt() -> tuple[bool, list[Any]]:
            pool = self._pool()
            return pool.add_block(block, by), [pool]

        return self.log.retrying(attempt, "the MAC pool")

    def mac_blocks(self) -> list[dict[str, Any]]:
        pool: MacPool | None = self.log.load_or_none(MacPool.create_id())
        blocks = pool.blocks if pool is not None else []
        configured = [self.mac_block] if self.mac_block is not None and self.mac_block not in blocks else []
        return [
            {
                "block": str(b),
                "size": b.size,
                "used": pool.used[str(b)] if pool is not None and b in blocks else 0,
                "configured": b == self.mac_block,
            }
            for b in [*blocks, *configured]
        ]
