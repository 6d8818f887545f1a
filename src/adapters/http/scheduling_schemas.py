"""The bodies of the scheduling endpoints (tariffs, price series, schedule quotes): requests and answers.
Decimals (prices, money, energy, power, current) travel as strings, so none passes through a float."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from adapters.http.schemas import Body, Links, Timestamp
from cloudbay_domain.tariff import MAX_PUBLISHED

TARIFF_EXAMPLE: dict[str, Any] = {
    "currency": "CHF",
    "price_per_kwh": "0.27",
    "time_zone": "Europe/Zurich",
    "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"},
    "exclusions": [{"weekday": "sunday"}, {"date": "2026-12-25"}],
}
SERIES_EXAMPLE: dict[str, Any] = {
    "currency": "CHF",
    "resolution_minutes": 60,
    "start": "2026-12-02T00:00:00+01:00",
    "prices": ["0.21", "0.19", "0.17"],
}
QUOTE_EXAMPLES: list[JsonValue] = [
    {"energy_kwh": 30, "by": "2026-12-02T07:00:00+01:00"},
    {"until": "2026-12-02T07:00:00+01:00", "max_power_w": 7400, "phases": 1},
    {"max_price": "5.00", "by": "2026-12-02T07:00:00+01:00", "min_current_a": 6},
]
PRICE = 'a decimal in a string, such as "0.27": not negative, at most 6 decimals'


class WindowBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", description="local time HH:MM on a quarter hour", examples=["22:00"])
    to: str = Field(description="local time HH:MM; at or before from: the next day", examples=["06:00"])
    price_per_kwh: str = Field(description=PRICE)


class ExclusionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    weekday: Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] | None = None
    date: str | None = Field(default=None, description="YYYY-MM-DD", examples=["2026-12-25"])


class TariffFields(BaseModel):
    currency: str = Field(description="ISO 4217", examples=["CHF"])
    price_per_kwh: str = Field(description=PRICE)
    time_zone: str = Field(description="IANA time zone of the windows", examples=["Europe/Zurich"])
    night: WindowBody | None = None
    windows: list[WindowBody] = Field(default_factory=list, max_length=24, description="more windows; none overlap")
    exclusions: list[ExclusionBody] = Field(
        default_factory=list, max_length=400, description="days (by the day a window starts) without any window"
    )
    price_series: str | None = Field(default=None, description="follow this price series where it has prices")


class TariffRequest(TariffFields):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [TARIFF_EXAMPLE]})


class TariffAnswer(Body):
    station_id: str
    tariff: dict[str, Any] = Field(description="the tariff as set (the request's shape, every field present)")
    set_by: str | None
    version: int
    links: Links


class SeriesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SERIES_EXAMPLE]})
    currency: str = Field(examples=["CHF"])
    resolution_minutes: int = Field(description="15 or 60")
    start: datetime = Field(description="the first price's start, with its UTC offset, on the resolution")
    prices: list[str] = Field(max_length=MAX_PUBLISHED, description="one per interval from start; " + PRICE)


class SeriesPoint(Body):
    start: Timestamp
    price_per_kwh: str


class SeriesAnswer(Body):
    name: str
    currency: str
    start: Timestamp | None
    end: Timestamp | None
    publications: int
    prices: list[SeriesPoint] = Field(description=f"the last {MAX_PUBLISHED} quarter-hour prices")
    version: int
    links: Links


class QuoteRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": QUOTE_EXAMPLES})
    energy_kwh: Decimal | None = Field(default=None, le=1000, max_digits=12, description="this much energy by `by`")
    by: datetime | None = Field(default=None, description="the deadline of energy_kwh and max_price")
    until: datetime | None = Field(default=None, description="as much energy as possible until then")
    max_price: str | None = Field(default=None, description="as much energy as this buys by `by`")
    max_power_w: int | None = Field(default=None, ge=1, le=1_000_000, description="the EV's limit")
    phases: int | None = Field(default=None, ge=1, le=3, description="phases the EV charges on (default 3)")
    min_current_a: Decimal | None = Field(default=None, ge=0, le=80, max_digits=6, description="EV's least current")


class QuoteInterval(Body):
    start: Timestamp
    end: Timestamp
    power_w: str
    current_a: str
    price_per_kwh: str
    energy_kwh: str
    cost: str


class QuoteLimits(Body):
    max_power_w: str
    phases: int
    min_current_a: str


class QuoteAlternative(Body):
    energy_kwh: str = Field(description="the energy reachable by the deadline")
    earliest_by: Timestamp = Field(description="when the energy asked is reachable at full power")


class ScheduleQuote(Body):
    station_id: str
    mode: Literal["energy", "until", "max_price"]
    feasible: bool
    currency: str
    charging_rate_unit: Literal["A", "W"] = Field(description="the unit the scheduler will send the profile in")
    by: Timestamp
    requested_energy_kwh: str | None
    energy_kwh: str
    total_cost: str
    limits: QuoteLimits
    intervals: list[QuoteInterval] = Field(description="the charging intervals (power above 0), in time order")
    alternative: QuoteAlternative | None
    quote_id: str = Field(description="accepts the quote with POST .../schedules until expires_at (signed)")
    expires_at: Timestamp
    links: Links
