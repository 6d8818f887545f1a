"""Production batches: the devices a line makes in one run, imported together.

A batch is named by the id the line gives it, or else by a digest of its normalised content, so importing the
same batch again (same id, or the same file) finds the batch already there and changes nothing. Each serial
number becomes the station id the charger connects with: at most 20 characters (OCPP's serialNumber), and
only characters a station id may hold.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.mac import addresses
from cloudbay_domain.station_id import InvalidStationId, check_station_id
from cloudbay_domain.text import has_control_characters

MAX_SERIAL_LENGTH = 20  # OCPP 2.0.1 ChargingStationType.serialNumber
MAX_NAME_LENGTH = 64  # a model or hardware family name
MAX_LISTED_ROWS = 100  # a refusal lists at most this many bad rows


@dataclass(frozen=True)
class BadRow:
    """One refused row of an import: ``row`` counts the devices from 1 (in a CSV, the line after the header)."""

    row: int
    message: str
    serial_number: str | None = None


class BatchRefused(Exception):
    """The whole batch is refused; ``rows`` are the first bad rows, ``bad_rows`` how many there are."""

    def __init__(self, message: str, rows: list[BadRow], bad_rows: int | None = None) -> None:
        super().__init__(message)
        self.rows = rows[:MAX_LISTED_ROWS]
        self.bad_rows = len(rows) if bad_rows is None else bad_rows


class BatchConflict(Exception):
    """A batch of this id exists with other content."""


def serial_problem(serial: str) -> str | None:
    """Why ``serial`` cannot be a device's serial number (and station id), or None."""
    if not serial:
        return "the serial number is empty"
    if len(serial) > MAX_SERIAL_LENGTH:
        return f"the serial number is longer than {MAX_SERIAL_LENGTH} characters"
    try:
        check_station_id(serial)
    except InvalidStationId:
        return "the serial number holds a character a station id may not (space, '/', '?', '#', '%', control)"
    return None


def name_problem(value: str, what: str) -> str | None:
    if not value:
        return f"the {what} is empty"
    if len(value) > MAX_NAME_LENGTH or has_control_characters(value):
        return f"the {what} must be 1-{MAX_NAME_LENGTH} characters without control characters"
    return None


@dataclass(frozen=True)
class DeviceSpec:
    serial_number: str
    model: str
    hardware_family: str


@dataclass(frozen=True)
class BatchSpec:
    """A batch as the line describes it, every row's model and family resolved."""

    batch_id: str | None
    hardware_family: str
    model: str
    devices: tuple[DeviceSpec, ...]

    @classmethod
    def of(
        cls,
        batch_id: str | None,
        family: str,
        model: str,
        rows: Sequence[Mapping[str, str | None]],
        numbers: Sequence[int] = (),
        known_bad: Sequence[BadRow] = (),
    ) -> BatchSpec:
        """Check every row and the batch's own fields; every problem is listed (the first 100) in one refusal.
        ``numbers``: each row's number (default 1, 2, ...); ``known_bad``: problems the caller found already."""
        family, model = family.strip(), model.strip()
        bad: list[BadRow] = list(known_bad)
        for what, value in (("hardware_family", family), ("model", model)):
            if (problem := name_problem(value, what)) is not None:
                bad.append(BadRow(0, f"batch {what}: {problem}"))
        if batch_id is not None:
            try:
                check_station_id(batch_id)
            except InvalidStationId:
                bad.append(BadRow(0, "batch_id must be 1-48 printable characters without ' ', '/', '?', '#', '%'"))
        devices, seen = [], dict[str, int]()
        for n, row in zip(numbers or range(1, len(rows) + 1), rows, strict=True):
            spec = DeviceSpec(
                (row.get("serial_number") or "").strip(),
                (row.get("model") or "").strip() or model,
                (row.get("hardware_family") or "").strip() or family,
            )
            problems = [serial_problem(spec.serial_number), name_problem(spec.model, "model")]
            problems.append(name_problem(spec.hardware_family, "hardware family"))
            if spec.serial_number in seen:
                problems.append(f"duplicate serial number (first in row {seen[spec.serial_number]})")
            seen.setdefault(spec.serial_number, n)
            bad.extend(BadRow(n, p, spec.serial_number or None) for p in problems if p)
            devices.append(spec)
        if not rows:
            bad.append(BadRow(0, "the batch has no devices"))
        if bad:
            bad.sort(key=lambda b: b.row)
            raise BatchRefused(f"the batch is refused: {len(bad)} problems, nothing was imported", bad)
        return cls(batch_id, family, model, tuple(devices))

    def digest(self) -> str:
        """SHA-256 of the normalised content (without the batch id): the same devices give the same digest."""
        content = [
            self.hardware_family,
            self.model,
            [[d.serial_number, d.model, d.hardware_family] for d in self.devices],
        ]
        return hashlib.sha256(json.dumps(content, separators=(",", ":")).encode()).hexdigest()

    @property
    def resolved_id(self) -> str:
        """The batch id given, else the first 16 hex digits of the digest."""
        return self.batch_id or self.digest()[:16]


class ProductionBatch(Aggregate):
    """One imported batch: its devices (in order), the MAC ranges they got, the key their codes derive from."""

    @staticmethod
    def create_id(batch_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:production-batch:{batch_id}")

    class Imported(Aggregate.Created):
        batch_id: str
        hardware_family: str
        model: str
        digest: str
        devices: list[list[str]]  # [serial number, model, hardware family], in import order
        mac_ranges: list[list[int]]  # [first address, count], handed out in order
        key_id: str
        imported_by: str

    @event(Imported)
    def __init__(
        self,
        batch_id: str,
        hardware_family: str,
        model: str,
        digest: str,
        devices: list[list[str]],
        mac_ranges: list[list[int]],
        key_id: str,
        imported_by: str,
    ) -> None:
        self.batch_id, self.hardware_family, self.model, self.digest = batch_id, hardware_family, model, digest
        self.devices, self.mac_ranges, self.key_id, self.imported_by = devices, mac_ranges, key_id, imported_by

    @classmethod
    def import_spec(cls, spec: BatchSpec, mac_ranges: list[list[int]], key_id: str, by: str) -> ProductionBatch:
        devices = [[d.serial_number, d.model, d.hardware_family] for d in spec.devices]
        return cls(
            batch_id=spec.resolved_id,
            hardware_family=spec.hardware_family,
            model=spec.model,
            digest=spec.digest(),
            devices=devices,
            mac_ranges=mac_ranges,
            key_id=key_id,
            imported_by=by,
        )

    def check_same(self, spec: BatchSpec) -> None:
        """Importing ``spec`` again is idempotent only if its content is this batch's."""
        if spec.digest() != self.digest:
            raise BatchConflict(f"batch {self.batch_id} was imported with other content")

    def mac_addresses(self) -> list[str]:
        return addresses(self.mac_ranges)

    class DocumentIssued(Aggregate.Event):
        """Someone got the batch's label sheet (``labels.pdf``) or device list (``devices.csv``)."""

        document: str
        by: str

    @event(DocumentIssued)
    def issue_document(self, document: str, by: str) -> None:
        """Record who got a document that carries the batch's codes."""
