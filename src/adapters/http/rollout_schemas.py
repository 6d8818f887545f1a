"""The REST shapes of rollout campaigns: what ``POST /api/v1/rollouts`` takes and what the rollout routes answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.schemas import Body, Links
from cloudbay_domain.firmware import MAX_LOCATION, MAX_VERSION

EXAMPLE: dict[str, Any] = {
    "family": "home-22kw",
    "channel": "stable",
    "image": {"version": "2.5.0", "location": "https://firmware.example.com/home-22kw/2.5.0.bin"},
    "policy": {"groups": [1, 10, 50, 100], "max_concurrent": 200, "windows": [{"start": "22:00", "end": "06:00"}]},
}


class WindowModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM in the charger's time zone")
    end: str = Field(pattern=r"^\d{2}:\d{2}$", description="HH:MM; before the start: over midnight")


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    groups: list[float] | None = Field(None, min_length=1, max_length=20, description="cumulative percentages")
    group_count: int | None = Field(None, ge=1, le=20, description="instead of groups: this many equal groups")
    success_threshold: float = Field(0.95, gt=0, le=1, description="share updated that promotes the next group")
    error_threshold: float = Field(0.05, gt=0, le=1, description="share failed in a group that halts")
    automatic_promotion: bool = True
    max_concurrent: int = Field(100, ge=1, le=1_000_000, description="chargers in flight at most")
    windows: list[WindowModel] = Field(default_factory=list, max_length=8)
    approval_required: bool = False
    silence_timeout: int = Field(3600, ge=60, le=604800, description="seconds")
    retries: int = Field(3, ge=0, le=100, description="UpdateFirmware's retries (download attempts)")
    retry_interval: int = Field(600, ge=0, le=86400, description="seconds between the charger's retries")


class ImageModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: str = Field(min_length=1, max_length=MAX_VERSION)
    location: str = Field(min_length=1, max_length=MAX_LOCATION, description="the image's http(s) URL")
    minimum_version: str | None = Field(None, min_length=1, max_length=MAX_VERSION)


class FilterModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    station_ids: list[str] | None = Field(None, min_length=1, max_length=100_000, description="only these chargers")
    hardware_family: str | None = Field(None, min_length=1, max_length=64, description="the family made as")
    batch_id: str | None = Field(None, min_length=1, max_length=64, description="a production batch")
    vendor: str | None = Field(None, min_length=1, max_length=50, description="as reported at boot")
    model: str | None = Field(None, min_length=1, max_length=50, description="as reported at boot")


class RolloutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE]})
    family: str = Field(min_length=1, max_length=64)
    channel: str = Field(min_length=1, max_length=64)
    filter: FilterModel | None = None
    image: ImageModel | None = Field(None, description="an image by URL; or image_id")
    image_id: str | None = Field(None, max_length=36, description="an uploaded image (POST /api/v1/firmware-images)")
    policy: PolicyModel = Field(default_factory=lambda: PolicyModel.model_validate({}))


class RolloutCommand(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(None, min_length=1, max_length=500, description="abort and rollback: why")


class GroupProgress(Body):
    group: int
    size: int
    stages: dict[str, int] = Field(description="chargers per stage (pending, requested, ..., succeeded, failed)")
    failures: dict[str, int] = Field(description="failed chargers per reason")


class Rollout(Body):
    campaign_id: str
    family: str
    channel: str
    state: str = Field(description="draft, approved, running, paused, halted, aborted, completed, rolled-back")
    image: dict[str, Any]
    policy: dict[str, Any]
    open_groups: int
    reason: str | None = Field(description="why it halted or ended")
    created_by: str
    targets: int
    excluded: int = Field(description="targets left out: another campaign held them")
    skipped: dict[str, int] = Field(description="targets left out by reason (BelowMinimumVersion)")
    reverts: list[dict[str, Any]] = Field(description="after a roll-back: the campaigns re-installing, or why not")
    settled: int
    throughput: float | None = Field(description="chargers settled per second")
    eta_seconds: float | None
    groups: list[GroupProgress]
    version: int
    links: Links


class RolloutSummary(Body):
    campaign_id: str
    family: str
    channel: str
    state: str
    image: dict[str, Any]
    open_groups: int
    reason: str | None
    created_by: str
    created_at: str
    targets: int
    excluded: int
    settled: int
    throughput: float | None
    eta_seconds: float | None
    links: Links


class RolloutPage(Body):
    items: list[RolloutSummary]
    links: Links
