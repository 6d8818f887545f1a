"""Meter values (OCPP 2.0.1 J02/J03): reading them at the OCPP edge (snake_case payloads, as the RPC layer hands
them over), normalising and summarising samples, and the charging/not-charging split of a transaction.
Examples first, then hypothesis properties."""

from __future__ import annotations

import dataclasses
import json
import math
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ocpp.meter_values import MeterValueError, parse_meter_values
from cloudbay_domain.metering import (
    ENERGY_REGISTER,
    EnergySummary,
    Sample,
    charging_split,
    normalised_sample,
    summarise,
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
POWER = "Power.Active.Import"


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def mv(seconds: float, *sampled: dict[str, Any]) -> dict[str, Any]:
    return {"timestamp": at(seconds), "sampled_value": list(sampled)}


def sv(value: float, unit: str | None = None, multiplier: int | None = None, **fields: Any) -> dict[str, Any]:
    uom = {k: v for k, v in (("unit", unit), ("multiplier", multiplier)) if v is not None}
    return {"value": value, **({"unit_of_measure": uom} if uom else {}), **fields}


def register(*readings: tuple[float, float]) -> list[Sample]:
    return parse_meter_values([mv(t, sv(wh)) for t, wh in readings])


def one(sampled: dict[str, Any]) -> Sample:
    [sample] = parse_meter_values([mv(0, sampled)])
    return sample


# --- reading and normalising ---


@pytest.mark.parametrize(
    ("sampled", "expected"),
    [
        (sv(1.234, "kWh"), 1234.0),
        (sv(12.5, "Wh", 3), 12500.0),
        (sv(7, "kWh", -3), 7.0),
        (sv(0.1, "kWh", 1), 1000.0),
        (sv(3, "Wh", -1), 0.3),
        (sv(50, "kW", -1, measurand=POWER), 5000.0),
        (sv(11000, "W", measurand=POWER), 11000.0),
        (sv(2, "kvarh", measurand="Energy.Reactive.Import.Register"), 2000.0),
        (sv(16, "A", 0, measurand="Current.Import", phase="L1"), 16.0),
        (sv(23, "V", 1, measurand="Voltage"), 230.0),
    ],
)
def test_units_and_multipliers_are_normalised(sampled: dict[str, Any], expected: float) -> None:
    sample = one(sampled)
    assert sample.known_unit and sample.value == expected and isinstance(sample.value, float)
    assert sample.raw_value == sampled["value"]


def test_defaults_are_the_energy_register_in_wh_at_the_outlet() -> None:
    sample = one({"value": 42})
    assert sample == Sample(T0, ENERGY_REGISTER, 42.0, "Wh", 0, 42.0)
    assert one({"value": 7400, "measurand": POWER}).unit == "W"
    assert one({"value": 80, "measurand": "SoC"}).unit == "Percent"


def test_fields_are_kept() -> None:
    [sample] = parse_meter_values(
        [
            {
                "timestamp": at(0),
                "sampled_value": [
                    {
                        "value": 1.5,
                        "unit_of_measure": {"unit": "kWh"},
                        "phase": "L2",
                        "context": "Transaction.Begin",
                        "location": "Outlet",
                    }
                ],
            }
        ]
    )
    assert (sample.value, sample.phase, sample.context, sample.location) == (
        1500.0,
        "L2",
        "Transaction.Begin",
        "Outlet",
    )


def test_camel_case_keys_are_not_read() -> None:
    """The RPC layer hands handlers snake_case payloads; a camelCase key is an unknown key, like any other."""
    with pytest.raises(MeterValueError, match="sampled_value"):
        parse_meter_values([{"timestamp": at(0), "sampledValue": [{"value": 1.5}]}])
    [sample] = parse_meter_values([mv(0, {"value": 1.5, "unitOfMeasure": {"unit": "kWh", "multiplier": 3}})])
    assert (sample.value, sample.unit, sample.multiplier) == (1.5, "Wh", 0)  # the defaults, not the kWh sent


def test_the_domain_normalises_a_reading_without_any_json() -> None:
    naive = datetime(2024, 5, 1, 12, 0)
    sample = normalised_sample(naive, None, 1.234, "kWh", phase="L1")
    assert sample == Sample(T0, ENERGY_REGISTER, 1234.0, "kWh", 0, 1.234, phase="L1")
    with pytest.raises(MeterValueError):
        normalised_sample(T0, POWER, True)


def test_timestamps_become_utc_and_naive_ones_are_taken_as_utc() -> None:
    offset = parse_meter_values([{"timestamp": "2024-05-01T14:00:00+02:00", "sampled_value": [{"value": 1}]}])
    naive = parse_meter_values([{"timestamp": "2024-05-01T12:00:00", "sampled_value": [{"value": 1}]}])
    assert offset[0].timestamp == naive[0].timestamp == T0
    assert offset[0].timestamp.tzinfo is UTC and naive[0] == offset[0]


@pytest.mark.parametrize(
    "meter_values",
    [
        [mv(0, sv(float("nan")))],
        [mv(0, sv(float("inf")))],
        [mv(0, sv("12.5"))],  # type: ignore[arg-type]
        [mv(0, sv(True))],
        [mv(0, {"unit_of_measure": {"unit": "Wh"}})],
        [mv(0, sv(1, "Wh", "3"))],  # type: ignore[arg-type]
        [mv(0, sv(1e300, "kWh", 300))],
        [mv(0, sv(10**400))],
        [mv(0, sv(1.0000000000000002e15))],  # beyond what a meter reads, once normalised
        [mv(0, sv(-2e15))],
        [mv(0, sv(1.5e12, "kWh"))],
        [mv(0, sv(2, "W", 15, measurand=POWER))],
        [mv(0, sv(1, measurand=5))],
        [{"timestamp": "yesterday", "sampled_value": [sv(1)]}],
        [{"timestamp": None, "sampled_value": [sv(1)]}],
        [{"timestamp": at(0)}],
        [mv(0, "12")],  # type: ignore[arg-type]
        ["not a meter value"],
    ],
)
def test_unreadable_meter_values_are_refused(meter_values: list[Any]) -> None:
    with pytest.raises(MeterValueError):
        parse_meter_values(meter_values)


def test_readings_up_to_a_petawatt_hour_either_way_are_read() -> None:
    samples = parse_meter_values([mv(0, sv(1e15), sv(-1e15), sv(1e12, "kWh"), sv(1, "W", 15, measurand=POWER))])
    assert [s.value for s in samples] == [1e15, -1e15, 1e15, 1e15]
    assert parse_meter_values([mv(0, sv(5e20, "kwh"))])[0].value == 5e20  # an unknown unit counts in nothing


def test_an_unknown_unit_is_kept_but_excluded_and_counted() -> None:
    samples = parse_meter_values(
        [
            mv(0, sv(1000)),
            mv(
                60,
                sv(5, "kwh", 2),
                sv(9, "MW", measurand=POWER),
                sv(2, "Wh", measurand="Energy.Reactive.Import.Register"),
            ),
            mv(120, sv(1500), sv(7, "kW", measurand=POWER)),
        ]
    )
    bogus = [s for s in samples if not s.known_unit]
    assert [(s.unit, s.value, s.raw_value) for s in bogus] == [("kwh", 5.0, 5.0), ("MW", 9.0, 9.0), ("Wh", 2.0, 2.0)]
    summary = summarise(samples)
    assert (summary.energy_wh, summary.register_samples, summary.unknown_unit_samples) == (500.0, 2, 3)
    assert summary.max_power_w == summary.last_power_w == 7000.0


# --- summarising ---


def test_no_samples_and_a_single_sample() -> None:
    assert summarise([]) == EnergySummary(0.0, None, None, 0, 0, None, None, None, None, 0)
    single = summarise(register((0, 1234.5)))
    assert (single.energy_wh, single.first_register_wh, single.last_register_wh) == (0.0, 1234.5, 1234.5)
    assert single.first_at == single.last_at == T0


def test_a_lifetime_register_counts_last_minus_first() -> None:
    summary = summarise(register((0, 52_000), (60, 52_300), (600, 55_000), (660, 55_250.5)))
    assert summary.energy_wh == 3250.5 and summary.register_resets == 0 and summary.register_samples == 4
    assert (summary.first_at, summary.last_at) == (T0, T0 + timedelta(seconds=660))


def test_a_reset_mid_series_starts_a_new_segment() -> None:
    summary = summarise(register((0, 100), (60, 200), (120, 300), (180, 0), (240, 50), (300, 80)))
    assert summary.energy_wh == 200 + 80 and summary.register_resets == 1
    assert (summary.first_register_wh, summary.last_register_wh) == (100.0, 80.0)


def test_out_of_order_and_repeated_delivery_change_nothing() -> None:
    readings = [(0, 10.0), (60, 20.0), (120, 35.0), (180, 5.0), (240, 9.0)]
    in_order = summarise(register(*readings))
    scrambled = summarise(register(*reversed(readings), readings[2], readings[0], readings[2]))
    assert scrambled == in_order and in_order.energy_wh == 25 + 4 and in_order.register_resets == 1


def test_the_same_reading_with_another_context_counts_once() -> None:
    samples = parse_meter_values(
        [
            mv(0, sv(10, context="Transaction.Begin")),
            mv(60, sv(30, context="Sample.Periodic")),
            mv(60, sv(30, context="Transaction.End")),
        ]
    )
    assert summarise(samples).register_samples == 2 and summarise(samples).energy_wh == 20.0


def test_phases_are_summed_where_every_phase_is_present() -> None:
    samples = parse_meter_values(
        [
            mv(0, *(sv(100, phase=p) for p in ("L1", "L2", "L3"))),
            mv(60, sv(150, phase="L1"), sv(120, phase="L2")),  # L3 missing: not a total
            mv(120, *(sv(0.2, "kWh", phase=p) for p in ("L1", "L2", "L3")), sv(5, phase="N")),
            mv(120, *(sv(v, "W", measurand=POWER, phase=p) for v, p in ((3, "L1"), (4, "L2"), (5, "L3")))),
        ]
    )
    summary = summarise(samples)
    assert (summary.first_register_wh, summary.last_register_wh, summary.energy_wh) == (300.0, 600.0, 300.0)
    assert summary.register_samples == 2 and summary.max_power_w == 12.0


def test_a_total_wins_over_phases_and_the_outlet_over_other_locations() -> None:
    samples = parse_meter_values(
        [
            mv(0, sv(1000), sv(400, phase="L1"), sv(9000, location="Inlet")),
            mv(60, sv(1600), sv(700, phase="L1"), sv(9900, location="Inlet")),
        ]
    )
    assert summarise(samples).energy_wh == 600.0
    inlet_only = [s for s in samples if s.location == "Inlet"]
    assert summarise(inlet_only).energy_wh == 900.0


def test_power_max_and_last() -> None:
    samples = parse_meter_values(
        [
            mv(120, sv(7.2, "kW", measurand=POWER)),
            mv(0, sv(3000, measurand=POWER)),
            mv(60, sv(11, "kW", measurand=POWER)),
        ]
    )
    summary = summarise(samples)
    assert (summary.max_power_w, summary.last_power_w) == (11000.0, 7200.0)
    assert summary.register_samples == 0 and summary.energy_wh == 0.0


def test_charging_split_with_unordered_changes() -> None:
    start, end = T0, T0 + timedelta(minutes=60)
    changes = [
        (T0 + timedelta(minutes=40), "SuspendedEV"),
        (T0 - timedelta(minutes=5), "EVConnected"),
        (T0 + timedelta(minutes=10), "Charging"),
        (T0 + timedelta(minutes=50), "Charging"),
        (T0 + timedelta(minutes=90), "Idle"),
    ]
    assert charging_split(changes, start, end) == (40 * 60.0, 20 * 60.0)
    assert charging_split([], start, end) == (0.0, 3600.0)
    assert charging_split([(T0 - timedelta(hours=1), "Charging")], start, end) == (3600.0, 0.0)
    assert charging_split(changes, end, start) == (0.0, 0.0)


def test_charging_split_takes_naive_times_as_utc() -> None:
    naive = datetime(2024, 5, 1, 12, 30)
    assert charging_split([(naive, "Charging")], T0, T0 + timedelta(hours=1)) == (1800.0, 1800.0)


# --- properties ---

FAST = settings(max_examples=40, deadline=None)
UNITS = [("Wh", 0), ("Wh", 1), ("Wh", -1), ("kWh", 0), ("kWh", -3), ("kWh", 3), ("Wh", 3), ("kWh", -2)]
OFFSETS = [UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))]


@st.composite
def rising(draw: st.DrawFn, min_size: int = 1) -> list[int]:
    """A non-decreasing register in centi-Wh."""
    first = draw(st.integers(0, 10**10))
    steps = draw(st.lists(st.integers(0, 10**8), min_size=min_size - 1, max_size=15))
    series = [first]
    for step in steps:
        series.append(series[-1] + step)
    return series


@st.composite
def encoded(draw: st.DrawFn, centi_wh: list[int]) -> list[dict[str, Any]]:
    """Meter values at increasing random times, each reading in a random unit, multiplier and offset."""
    moment, out = datetime(2024, 1, 1, tzinfo=UTC), []
    for reading in centi_wh:
        moment += timedelta(seconds=draw(st.integers(1, 10**6)), microseconds=draw(st.integers(0, 999_999)))
        unit, multiplier = draw(st.sampled_from(UNITS))
        exponent = multiplier + (3 if unit == "kWh" else 0)
        raw = Decimal(reading).scaleb(-2 - exponent)
        value = int(raw) if raw == raw.to_integral_value() else float(raw)
        stamp = moment.astimezone(draw(st.sampled_from(OFFSETS))).isoformat()
        out.append({"timestamp": stamp, "sampled_value": [sv(value, unit, multiplier)]})
    return out


def wh(centi_wh: int) -> float:
    return float(Decimal(centi_wh).scaleb(-2))


@FAST
@given(st.data())
def test_energy_of_a_non_decreasing_register_is_last_minus_first(data: st.DataObject) -> None:
    series = data.draw(rising())
    samples = parse_meter_values(data.draw(encoded(series)))
    assert [s.value for s in samples] == [wh(r) for r in series]
    summary = summarise(data.draw(st.permutations(samples)))
    assert math.isclose(summary.energy_wh, wh(series[-1]) - wh(series[0]), rel_tol=1e-6, abs_tol=1e-9)
    assert summary.register_resets == 0 and summary.register_samples == len(series)


ANY_SAMPLED = st.builds(
    sv,
    value=st.one_of(st.integers(-(10**6), 10**9), st.floats(-1e6, 1e9, allow_nan=False)),
    unit=st.sampled_from([None, "Wh", "kWh", "W", "kW", "bogus"]),
    multiplier=st.sampled_from([None, -3, -1, 0, 1, 3]),
    measurand=st.sampled_from([ENERGY_REGISTER, POWER, "SoC"]),
    phase=st.sampled_from([None, None, "L1", "L2", "L3", "N"]),
    location=st.sampled_from([None, None, "Outlet", "Inlet"]),
    context=st.sampled_from([None, "Sample.Periodic", "Transaction.End"]),
)
ANY_METER_VALUES = st.lists(
    st.builds(
        lambda seconds, sampled: {"timestamp": at(seconds), "sampled_value": sampled},
        st.integers(0, 20),
        st.lists(ANY_SAMPLED, min_size=1, max_size=4),
    ),
    max_size=12,
)


@FAST
@given(ANY_METER_VALUES, st.data())
def test_delivery_order_and_repeats_do_not_matter(meter_values: list[dict[str, Any]], data: st.DataObject) -> None:
    samples = parse_meter_values(meter_values)
    repeats = data.draw(st.lists(st.sampled_from(samples), max_size=10)) if samples else []
    assert summarise(data.draw(st.permutations(samples + repeats))) == summarise(samples)


@FAST
@given(st.lists(st.floats(0, 1e9, allow_nan=False), min_size=1, max_size=20), st.data())
def test_energy_is_never_negative_nor_more_than_the_rises(readings: list[float], data: st.DataObject) -> None:
    samples = register(*enumerate(readings))
    summary = summarise(data.draw(st.permutations(samples)))
    rises = math.fsum(max(0.0, b - a) for a, b in zip(readings, readings[1:], strict=False))
    assert 0.0 <= summary.energy_wh <= rises * (1 + 1e-9) + 1e-9
    assert summary.register_resets == sum(1 for a, b in zip(readings, readings[1:], strict=False) if b < a)


@FAST
@given(rising(), rising(), st.data())
def test_one_reset_to_zero_adds_both_segments(before: list[int], after_steps: list[int], data: st.DataObject) -> None:
    after = [0] + [r - after_steps[0] for r in after_steps]  # restarts at 0, then rises as after_steps did
    samples = parse_meter_values(data.draw(encoded(before + after)))
    summary = summarise(samples)
    expected = (wh(before[-1]) - wh(before[0])) + (wh(after[-1]) - 0.0)
    assert math.isclose(summary.energy_wh, expected, rel_tol=1e-6, abs_tol=1e-9)
    assert summary.register_resets == (1 if before[-1] > 0 else 0)


SAMPLES = st.builds(
    Sample,
    timestamp=st.datetimes(timezones=st.just(UTC)),
    measurand=st.sampled_from([ENERGY_REGISTER, POWER, "Current.Import", "SoC"]),
    value=st.floats(allow_nan=False, allow_infinity=False),
    unit=st.sampled_from(["Wh", "kWh", "W", "A", "Percent", "furlong"]),
    multiplier=st.integers(-3, 3),
    raw_value=st.floats(allow_nan=False, allow_infinity=False),
    phase=st.sampled_from([None, "L1", "L2-N"]),
    context=st.sampled_from([None, "Transaction.Begin"]),
    location=st.sampled_from([None, "Outlet", "EV"]),
    known_unit=st.booleans(),
)


@FAST
@given(st.one_of(SAMPLES, st.builds(one, ANY_SAMPLED)))
def test_a_sample_survives_its_json_form(sample: Sample) -> None:
    assert Sample.from_dict(sample.to_dict()) == sample
    assert Sample.from_dict(json.loads(json.dumps(sample.to_dict()))) == sample


STATES = st.sampled_from(["Charging", "EVConnected", "SuspendedEV", "SuspendedEVSE", "Idle"])


@FAST
@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3)),
    st.lists(st.tuples(st.timedeltas(min_value=timedelta(days=-1), max_value=timedelta(days=4)), STATES), max_size=12),
    st.data(),
)
def test_charging_split_covers_the_interval(
    start: datetime, length: timedelta, changes: list[tuple[timedelta, str]], data: st.DataObject
) -> None:
    timed = [(start + offset, state) for offset, state in changes]
    charging, other = charging_split(timed, start, start + length)
    assert charging >= 0 and other >= 0
    assert math.isclose(charging + other, length.total_seconds(), abs_tol=1e-6)
    assert charging_split(data.draw(st.permutations(timed)), start, start + length) == (charging, other)


def test_a_sample_as_a_dict_holds_every_field_and_reads_back() -> None:
    sample = Sample(T0, "Energy.Active.Import.Register", 1.5, "kWh", 3, 1.5, "L1", "Sample.Periodic", "EV")
    data = sample.to_dict()
    assert set(data) == {f.name for f in dataclasses.fields(Sample)}
    assert Sample.from_dict(data) == sample
