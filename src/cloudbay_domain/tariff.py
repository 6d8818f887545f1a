"""A charger's tariff and an operator's day-ahead price series: value objects, pure and DST-correct.

A tariff has a base price per kWh, optional time windows in the tariff's own time zone (the night window and
any others, on quarter hours, never overlapping), days on which no window applies (a weekday or a date), and
optionally the name of a price series it follows where that series has prices. Every instant is looked up in
local wall-clock time (``zoneinfo``), so a night window from 22:00 to 06:00 lasts 7 hours across the spring
change and 9 across the autumn one. A window belongs to the local day it starts on: an exclusion of Sunday
drops the window from Sunday 22:00 to Monday 06:00, not the one that ends on Sunday morning.

Money is ``Decimal`` from text, never a float.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

QUARTER = timedelta(minutes=15)
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
PRICE = re.compile(r"^\d{1,6}(\.\d{1,6})?$")
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
SERIES_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class InvalidTariff(ValueError):
    """A tariff or price series the platform does not accept (the message says which part and why)."""


def parse_price(raw: object, what: str = "price_per_kwh") -> Decimal:
    """A price per kWh from its text ("0.27"): not negative, not a float, at most 6 decimals."""
    if not isinstance(raw, str):
        raise InvalidTariff(f'{what} is a decimal number in a string, such as "0.27"')
    if raw.strip().startswith("-"):
        raise InvalidTariff(f"{what} must not be negative: {raw}")
    if not PRICE.match(raw):
        raise InvalidTariff(f'{what} is a decimal number such as "0.27", not {raw!r}')
    return Decimal(raw)


def parse_zone(raw: object) -> ZoneInfo:
    if not isinstance(raw, str) or not raw or len(raw) > 64 or ".." in raw or raw.startswith("/"):
        raise InvalidTariff(f"unknown time zone: {raw!r}")
    try:
        return ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidTariff(f"unknown time zone: {raw!r} (an IANA name such as Europe/Zurich)") from None


def parse_currency(raw: object) -> str:
    if not isinstance(raw, str) or not CURRENCY.match(raw):
        raise InvalidTariff(f"currency is an ISO 4217 code such as CHF, not {raw!r}")
    return raw


def check_series_name(name: str) -> str:
    if not SERIES_NAME.match(name):
        raise InvalidTariff(
            "a price series name has 1-64 letters, digits, '.', '_' or '-', starting with one of the first two"
        )
    return name


def _clock(raw: object, what: str) -> time:
    match = CLOCK.match(raw) if isinstance(raw, str) else None
    if match is None:
        raise InvalidTariff(f"{what} is a local time HH:MM such as 22:00, not {raw!r}")
    if int(match.group(2)) % 15:
        raise InvalidTariff(f"{what} must be on a quarter hour (:00, :15, :30 or :45), not {raw}")
    return time(int(match.group(1)), int(match.group(2)))


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


@dataclass(frozen=True)
class Window:
    """From ``start`` to ``end`` local time (across midnight when ``end`` <= ``start``), at ``price``."""

    start: time
    end: time
    price: Decimal

    @classmethod
    def parse(cls, raw: object, what: str) -> Window:
        if not isinstance(raw, Mapping) or set(raw) != {"from", "to", "price_per_kwh"}:
            raise InvalidTariff(f"{what} has exactly from, to and price_per_kwh")
        start, end = _clock(raw["from"], f"{what}.from"), _clock(raw["to"], f"{what}.to")
        if start == end:
            raise InvalidTariff(f"{what} is empty: from and to are both {raw['from']}")
        return cls(start, end, parse_price(raw["price_per_kwh"], f"{what}.price_per_kwh"))

    def minutes(self) -> list[tuple[int, int]]:
        """The spans of the day it covers, in minutes from midnight (two when it crosses midnight)."""
        a, b = _minutes(self.start), _minutes(self.end)
        return [(a, b)] if a < b else [(a, 24 * 60), (0, b)]

    def day_of(self, local: datetime) -> date | None:
        """The local day of the window ``local`` falls in (the day it started), or None when outside it."""
        t = local.time().replace(fold=0)
        if self.start < self.end:
            return local.date() if self.start <= t < self.end else None
        if t >= self.start:
            return local.date()
        return local.date() - timedelta(days=1) if t < self.end else None

    def to_json(self) -> dict[str, str]:
        return {
            "from": self.start.strftime("%H:%M"),
            "to": self.end.strftime("%H:%M"),
            "price_per_kwh": str(self.price),
        }


@dataclass(frozen=True)
class Exclusion:
    """A day on which no window applies: every such weekday (0 = Monday), or one date."""

    weekday: int | None = None
    day: date | None = None

    @classmethod
    def parse(cls, raw: object, what: str) -> Exclusion:
        if isinstance(raw, Mapping) and set(raw) == {"weekday"} and raw["weekday"] in WEEKDAYS:
            return cls(weekday=WEEKDAYS.index(raw["weekday"]))
        if isinstance(raw, Mapping) and set(raw) == {"date"}:
            value = raw["date"]
            if isinstance(value, str) and DATE.match(value):
                try:
                    return cls(day=date.fromisoformat(value))
                except ValueError:
                    pass
            raise InvalidTariff(f"{what}.date is a date YYYY-MM-DD such as 2026-12-25, not {value!r}")
        raise InvalidTariff(f'{what} is {{"weekday": "sunday"}} (a weekday in English) or {{"date": "2026-12-25"}}')

    def covers(self, day: date) -> bool:
        return day == self.day if self.day is not None else day.weekday() == self.weekday

    def to_json(self) -> dict[str, str]:
        return {"date": self.day.isoformat()} if self.day is not None else {"weekday": WEEKDAYS[self.weekday or 0]}


TARIFF_KEYS = {"currency", "price_per_kwh", "time_zone", "night", "windows", "exclusions", "price_series"}


@dataclass(frozen=True)
class Tariff:
    currency: str
    price: Decimal
    zone: ZoneInfo
    night: Window | None = None
    windows: tuple[Window, ...] = ()
    exclusions: tuple[Exclusion, ...] = ()
    series: str | None = None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Tariff:
        """A tariff from its JSON form (the REST body, the stored event): :class:`InvalidTariff` when wrong."""
        unknown = set(raw) - TARIFF_KEYS
        if unknown:
            raise InvalidTariff(f"a tariff has no field {sorted(unknown)[0]}")
        missing = {"currency", "price_per_kwh", "time_zone"} - set(raw)
        if missing:
            raise InvalidTariff(f"a tariff needs {sorted(missing)[0]}")
        night = Window.parse(raw["night"], "night") if raw.get("night") is not None else None
        windows = tuple(Window.parse(w, f"windows[{n}]") for n, w in enumerate(_list(raw, "windows")))
        exclusions = tuple(Exclusion.parse(e, f"exclusions[{n}]") for n, e in enumerate(_list(raw, "exclusions")))
        series = raw.get("price_series")
        if series is not None and not isinstance(series, str):
            raise InvalidTariff("price_series names a price series")
        tariff = cls(
            parse_currency(raw["currency"]),
            parse_price(raw["price_per_kwh"]),
            parse_zone(raw["time_zone"]),
            night,
            windows,
            exclusions,
            check_series_name(series) if series is not None else None,
        )
        tariff._check_no_overlap()
        return tariff

    def all_windows(self) -> tuple[Window, ...]:
        return ((self.night,) if self.night else ()) + self.windows

    def _check_no_overlap(self) -> None:
        spans = sorted((a, b, w) for w in self.all_windows() for a, b in w.minutes())
        for (_, end, first), (start, _, second) in zip(spans, spans[1:], strict=False):
            if start < end:
                raise InvalidTariff(f"the windows {_span(first)} and {_span(second)} overlap")

    def fixed_price_at(self, instant: datetime) -> Decimal:
        """The price of the fixed rules at ``instant`` (aware): a window's if one applies, else the base."""
        local = instant.astimezone(self.zone)
        for window in self.all_windows():
            day = window.day_of(local)
            if day is not None and not any(e.covers(day) for e in self.exclusions):
                return window.price
        return self.price

    def price_at(self, instant: datetime, series: PriceSeries | None = None) -> Decimal:
        """The price per kWh at ``instant``: the followed series' where it has one, else the fixed rules."""
        if series is not None:
            quoted = series.price_at(instant)
            if quoted is not None:
                return quoted
        return self.fixed_price_at(instant)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"currency": self.currency, "price_per_kwh": str(self.price), "time_zone": self.zone.key}
        out["night"] = self.night.to_json() if self.night else None
        out["windows"] = [w.to_json() for w in self.windows]
        out["exclusions"] = [e.to_json() for e in self.exclusions]
        out["price_series"] = self.series
        return out


def _list(raw: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = raw.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidTariff(f"{key} is a list")
    return value


def _span(window: Window) -> str:
    return f"{window.start:%H:%M}-{window.end:%H:%M}"


def quarter_index(instant: datetime) -> int:
    """The quarter hour ``instant`` (aware) falls in, counted from the Unix epoch."""
    return int(instant.timestamp() // 900)


@dataclass(frozen=True)
class PriceSeries:
    """A published price series: a price per UTC quarter hour (a 60-minute price covers four)."""

    name: str
    currency: str
    prices: Mapping[int, Decimal] = field(default_factory=dict)  # quarter_index -> price

    def price_at(self, instant: datetime) -> Decimal | None:
        return self.prices.get(quarter_index(instant))

    def span(self) -> tuple[datetime, datetime] | None:
        if not self.prices:
            return None
        first, last = min(self.prices), max(self.prices)
        return datetime.fromtimestamp(first * 900, UTC), datetime.fromtimestamp((last + 1) * 900, UTC)


MAX_PUBLISHED = 7 * 96  # a publication covers at most a week of quarter hours


def parse_publication(start: datetime, resolution_minutes: int, prices: Sequence[object]) -> dict[int, Decimal]:
    """A publication's prices by quarter hour: ``start`` aware and on the resolution, 15- or 60-minute prices."""
    if start.tzinfo is None:
        raise InvalidTariff("start needs a UTC offset, such as 2026-12-02T00:00:00+01:00")
    if not 2000 <= start.year <= 2100:
        raise InvalidTariff("start is a date from 2000 to 2100")
    if resolution_minutes not in (15, 60):
        raise InvalidTariff("resolution_minutes is 15 or 60")
    if start.second or start.microsecond or start.astimezone(UTC).minute % resolution_minutes:
        raise InvalidTariff(f"start must be on a {resolution_minutes}-minute boundary")
    per = resolution_minutes // 15
    if not prices or len(prices) * per > MAX_PUBLISHED:
        raise InvalidTariff(f"a publication has 1 to {MAX_PUBLISHED // per} prices (a week)")
    first = quarter_index(start)
    out: dict[int, Decimal] = {}
    for n, raw in enumerate(prices):
        price = parse_price(raw, f"prices[{n}]")
        for k in range(per):
            out[first + n * per + k] = price
    return out
