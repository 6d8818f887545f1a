"""Tariffs: parsed from their JSON form, prices by local wall-clock time across both DST changes, bad input refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from adapters.http.scheduling_schemas import TARIFF_EXAMPLE
from cloudbay_domain.tariff import InvalidTariff, PriceSeries, Tariff, parse_publication

EXAMPLE = TARIFF_EXAMPLE
TARIFF = Tariff.parse(EXAMPLE)


def night_hours(tariff: Tariff, evening: datetime) -> float:
    """How long the night price lasts from ``evening`` (UTC) on, in quarter hours counted."""
    at, quarters = evening, 0
    while at < evening + timedelta(hours=14):
        quarters += tariff.price_at(at) == Decimal("0.18")
        at += timedelta(minutes=15)
    return quarters / 4


def test_the_example_round_trips() -> None:
    assert Tariff.parse(TARIFF.to_json()) == TARIFF
    assert TARIFF.to_json()["night"] == EXAMPLE["night"]


def test_prices_follow_local_time() -> None:
    assert TARIFF.price_at(datetime(2026, 12, 1, 20, 59, tzinfo=UTC)) == Decimal("0.27")  # 21:59 in Zurich
    assert TARIFF.price_at(datetime(2026, 12, 1, 21, 0, tzinfo=UTC)) == Decimal("0.18")
    assert TARIFF.price_at(datetime(2026, 12, 2, 4, 59, tzinfo=UTC)) == Decimal("0.18")
    assert TARIFF.price_at(datetime(2026, 12, 2, 5, 0, tzinfo=UTC)) == Decimal("0.27")
    assert TARIFF.price_at(datetime(2026, 7, 1, 20, 0, tzinfo=UTC)) == Decimal("0.18")  # 22:00 in summer (+02:00)


def test_the_night_across_the_spring_change_is_seven_hours_and_across_the_autumn_change_nine() -> None:
    # Europe/Zurich: 2026-03-29 02:00 -> 03:00, 2026-10-25 03:00 -> 02:00 (both Sunday mornings, Saturday nights)
    assert night_hours(TARIFF, datetime(2026, 3, 28, 20, 0, tzinfo=UTC)) == 7
    assert night_hours(TARIFF, datetime(2026, 10, 24, 19, 0, tzinfo=UTC)) == 9
    assert night_hours(TARIFF, datetime(2026, 12, 1, 20, 0, tzinfo=UTC)) == 8


def test_no_night_price_on_excluded_days() -> None:
    # Sunday 2026-11-29 22:00 until Monday 06:00 is Sunday's window: excluded; Saturday's night ends on Sunday
    assert TARIFF.price_at(datetime(2026, 11, 29, 22, 0, tzinfo=UTC)) == Decimal("0.27")
    assert TARIFF.price_at(datetime(2026, 11, 29, 3, 0, tzinfo=UTC)) == Decimal("0.18")
    assert TARIFF.price_at(datetime(2026, 12, 25, 22, 0, tzinfo=UTC)) == Decimal("0.27")
    assert TARIFF.price_at(datetime(2026, 12, 26, 22, 0, tzinfo=UTC)) == Decimal("0.18")


def test_a_followed_series_wins_where_it_has_prices() -> None:
    start = datetime.fromisoformat("2026-12-02T00:00:00+01:00")
    series = PriceSeries("day-ahead", "CHF", parse_publication(start, 60, ["0.05", "0.07"]))
    follows = Tariff.parse({**EXAMPLE, "price_series": "day-ahead"})

    assert follows.price_at(start, series) == Decimal("0.05")
    assert follows.price_at(start + timedelta(minutes=75), series) == Decimal("0.07")
    assert follows.price_at(start + timedelta(hours=2), series) == Decimal("0.18")  # past the series: the night
    assert series.span() == (start, start + timedelta(hours=2))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"windows": [{"from": "05:00", "to": "07:00", "price_per_kwh": "0.2"}]}, "overlap"),
        ({"windows": [{"from": "23:00", "to": "23:30", "price_per_kwh": "0.2"}]}, "overlap"),
        ({"price_per_kwh": "-0.10"}, "negative"),
        ({"night": {"from": "22:00", "to": "06:00", "price_per_kwh": "-1"}}, "negative"),
        ({"price_per_kwh": 0.27}, "string"),
        ({"price_per_kwh": "NaN"}, "decimal"),
        ({"price_per_kwh": "1e3"}, "decimal"),
        ({"time_zone": "Mars/Olympus"}, "unknown time zone"),
        ({"time_zone": "../etc/passwd"}, "unknown time zone"),
        ({"exclusions": [{"date": "25.12.2026"}]}, "YYYY-MM-DD"),
        ({"exclusions": [{"date": "20261225"}]}, "YYYY-MM-DD"),
        ({"exclusions": [{"date": "2026-02-30"}]}, "YYYY-MM-DD"),
        ({"exclusions": [{"weekday": "Sonntag"}]}, "weekday"),
        ({"night": {"from": "22:10", "to": "06:00", "price_per_kwh": "0.1"}}, "quarter hour"),
        ({"night": {"from": "25:00", "to": "06:00", "price_per_kwh": "0.1"}}, "HH:MM"),
        ({"night": {"from": "06:00", "to": "06:00", "price_per_kwh": "0.1"}}, "empty"),
        ({"currency": "chf"}, "ISO 4217"),
        ({"colour": "red"}, "no field"),
    ],
)
def test_bad_tariffs_are_refused_with_a_reason(change: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTariff, match=message):
        Tariff.parse({**EXAMPLE, **change})


@pytest.mark.parametrize(
    ("start", "resolution", "prices", "message"),
    [
        (datetime(2026, 12, 2, 0, 0), 15, ["0.1"], "UTC offset"),
        (datetime(2026, 12, 2, 0, 15, tzinfo=UTC), 60, ["0.1"], "60-minute boundary"),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), 30, ["0.1"], "15 or 60"),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), 15, [], "1 to"),
        (datetime(2026, 12, 2, 0, 0, tzinfo=UTC), 15, ["-0.01"], "negative"),
    ],
)
def test_bad_publications_are_refused(start: datetime, resolution: int, prices: list[object], message: str) -> None:
    with pytest.raises(InvalidTariff, match=message):
        parse_publication(start, resolution, prices)


def test_the_cost_of_delivered_energy_uses_the_price_in_force_in_each_interval() -> None:
    from fractions import Fraction

    from cloudbay_domain.quotes import cost_of

    evening, night = datetime(2026, 12, 1, 20, 45, tzinfo=UTC), datetime(2026, 12, 1, 21, 0, tzinfo=UTC)
    assert cost_of([(evening, Fraction(1000)), (night, Fraction(2000))], TARIFF) == Fraction("0.63")
