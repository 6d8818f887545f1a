"""The bodies of the sites endpoints (load management, docs/scheduling.md "Load management"). Limits travel as
numbers in requests and as decimal strings in answers."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from adapters.http.schemas import Body, Links, Timestamp

AMPS = "A per phase; above 0"
WATTS = "W; above 0"


class SiteRequest(BaseModel):
    """A site (no parent) or a circuit under a site or another circuit (``parent``)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "Garage", "max_current_a": 63, "max_power_w": 40000}]},
    )
    name: str = Field(min_length=1, max_length=200)
    parent: str | None = Field(default=None, max_length=64, description="the site or circuit this circuit is on")
    max_current_a: Decimal | None = Field(default=None, le=10_000, max_digits=8, description=AMPS)
    max_power_w: Decimal | None = Field(default=None, le=100_000_000, max_digits=12, description=WATTS)


class SiteChange(BaseModel):
    """What changes (the others stay); ``parent`` moves a circuit (a cycle is refused)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    parent: str | None = Field(default=None, max_length=64)
    max_current_a: Decimal | None = Field(default=None, le=10_000, max_digits=8, description=AMPS)
    max_power_w: Decimal | None = Field(default=None, le=100_000_000, max_digits=12, description=WATTS)


class AssignRequest(BaseModel):
    """The charger's priority on its circuit (higher first) and its own limits."""

    model_config = ConfigDict(extra="forbid")
    priority: int = Field(default=0, ge=-100, le=100)
    max_current_a: Decimal = Field(default=Decimal(16), le=1000, max_digits=6, description="the charger's own limit")
    min_current_a: Decimal = Field(default=Decimal(6), le=1000, max_digits=6, description="its least current")
    phases: int = Field(default=3, ge=1, le=3)


class SiteCharger(Body):
    station_id: str
    priority: int
    max_current_a: str
    min_current_a: str
    phases: int
    limit_a: str | None = Field(description="the limit last sent (ChargingStationMaxProfile); null: none yet")
    limit_until: Timestamp | None = Field(description="when that limit falls back to the charger's safe share")
    safe_a: str | None = Field(description="what the limit falls back to when it is not renewed")
    links: Links


class SiteTree(Body):
    site_id: str
    name: str
    parent: str | None
    site: str = Field(description="the site (root) this circuit is on; itself for a site")
    max_current_a: str | None
    max_power_w: str | None
    created_by: str
    chargers: list[SiteCharger]
    circuits: list[SiteTree]
    links: Links


class SiteList(Body):
    sites: list[SiteTree]


SiteTree.model_rebuild()
