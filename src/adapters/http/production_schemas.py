"""Request and answer bodies of manufacturing: production batches, MAC blocks, the pipeline of a device."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.schemas import Body, Links, Timestamp

EXAMPLE_BATCH: dict[str, Any] = {
    "batch_id": "2026-W48-A",
    "hardware_family": "home-22kw",
    "model": "CB-Home-22",
    "devices": [{"serial_number": "CB22-000001"}, {"serial_number": "CB22-000002", "model": "CB-Home-22-T"}],
}


class DeviceRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    serial_number: str = Field(description="the station id the charger connects with: 1-20 characters")
    model: str | None = Field(default=None, description="this device's model, if not the batch's")
    hardware_family: str | None = Field(default=None, description="this device's family, if not the batch's")


class BatchImportRequest(BaseModel):
    """A batch as JSON; the same as ``text/csv`` is a header ``serial_number[,model,hardware_family]`` and one
    row per device, with ``hardware_family``, ``model`` and ``batch_id`` as query parameters."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_BATCH]})
    batch_id: str | None = Field(default=None, description="the line's name for the batch; else a content digest")
    hardware_family: str
    model: str
    devices: list[DeviceRow] = Field(max_length=100_000)


class MacBlockRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"block": "70:B3:D5:1/28"}]})
    block: str = Field(max_length=64, description="a prefix and its length: 70:B3:D5:1/28, 02:00:00:00:00:00/24")


class ReleaseRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"box_code": "7K3M-9QXD-2B4F-HT6W-R8YZ", "allow_unenrolled": True}]},
    )
    box_code: str = Field(max_length=256, description="the box security code, or the box label's whole payload")
    allow_unenrolled: bool = Field(
        default=False, description="release from manufactured or enrolled, before the device is ready"
    )


class ScrapRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "failed insulation test"}]})
    reason: str = Field(default="", max_length=200)


class BatchStates(Body):
    manufactured: int
    enrolled: int
    ready: int
    released: int
    scrapped: int


class MacRange(Body):
    first: str = Field(examples=["70:B3:D5:10:00:00"])
    last: str
    count: int


class Batch(Body):
    batch_id: str
    hardware_family: str
    model: str
    devices: int
    mac_ranges: list[MacRange]
    key_id: str = Field(description="the manufacturing key the batch's codes derive from")
    imported_by: str
    imported_at: Timestamp
    states: BatchStates = Field(description="how many devices are in each state (the production read model)")
    version: int
    links: Links


class BatchPage(Body):
    items: list[Batch]
    links: Links


class MacBlock(Body):
    block: str = Field(examples=["70:B3:D5:10:00:00/28"])
    size: int
    used: int
    configured: bool = Field(description="the block CLOUDBAY_MAC_BLOCK names")


class MacBlocks(Body):
    items: list[MacBlock]
    addresses_left: int
    links: Links


class FirmwareUpdate(Body):
    request_id: int
    version: str = Field(description="the stable version it installs")
    status: str = Field(description="the charger's answer, then the status its FirmwareStatusNotifications report")


class Device(Body):
    station_id: str
    batch_id: str
    model: str
    hardware_family: str
    mac_address: str
    state: str = Field(examples=["released"])
    failed_releases: int = Field(description="wrong box codes in a row")
    release_locked: bool
    version: int = Field(description="of the device (its pipeline), not of the charger")
    firmware_update: FirmwareUpdate | None = Field(
        default=None, description="the last UpdateFirmware sent to bring it to its family's stable firmware"
    )
    links: Links
