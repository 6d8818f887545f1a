"""Figures kept up to date event by event equal the figures computed from scratch, after every event of any
sequence: any seqNos (gaps, negatives, out of order), times in any offsets and ties, charging states, and samples
with resets, duplicates, phases, locations and unknown units."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.figures import transaction_figures
from cloudbay_domain.metering import ENERGY_REGISTER, POWER_ACTIVE_IMPORT, Sample, register_readings, summarise
from cloudbay_domain.running_figures import RunningFigures
from cloudbay_domain.running_metering import RunningEnergy

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Report:
    event_type: str
    occurred_at: datetime
    charging_state: str | None
    stopped_reason: str | None


moments = st.builds(
    lambda minutes, hours: (T0 + timedelta(minutes=minutes)).astimezone(timezone(timedelta(hours=hours))),
    st.integers(min_value=-30, max_value=90),
    st.sampled_from([0, 1, -5]),
)
values = st.one_of(
    st.sampled_from([0.0, 0.1, 0.2, 0.3, 1.0, 100.5, 1000.0, 1000.0005, 1e15, 1e308]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)
samples = st.builds(
    Sample,
    timestamp=st.builds(lambda m: T0 + timedelta(minutes=m), st.integers(min_value=0, max_value=20)),
    measurand=st.sampled_from([ENERGY_REGISTER, ENERGY_REGISTER, POWER_ACTIVE_IMPORT, "Voltage"]),
    value=values,
    unit=st.just("Wh"),
    multiplier=st.just(0),
    raw_value=st.just(0.0),
    phase=st.sampled_from([None, None, "L1", "L2", "L3", "L1-N", "L2-N", "N", "L1-L2"]),
    context=st.just(None),
    location=st.sampled_from([None, None, "Outlet", "Inlet", "Body", "EV"]),
    known_unit=st.sampled_from([True, True, True, False]),
)
reports = st.builds(
    Report,
    event_type=st.sampled_from(["Started", "Updated", "Updated", "Ended"]),
    occurred_at=moments,
    charging_state=st.sampled_from([None, "", "Charging", "Charging", "EVConnected", "SuspendedEV", "Idle"]),
    stopped_reason=st.sampled_from([None, "Local", "Remote"]),
)
events = st.lists(
    st.one_of(
        st.tuples(st.integers(min_value=-3, max_value=12), reports, st.lists(samples, max_size=4)),
        st.tuples(st.none(), st.none(), st.lists(samples, min_size=1, max_size=6)),
    ),
    max_size=30,
)


@settings(max_examples=400, deadline=None)
@given(events)
def test_the_running_figures_equal_the_figures_from_scratch_after_every_event(
    sequence: list[tuple[int | None, Report | None, list[Sample]]],
) -> None:
    running = RunningFigures()
    recorded: dict[int, Report] = {}
    all_samples: list[Sample] = []
    for seq_no, report, new_samples in sequence:
        if seq_no is not None and report is not None:
            if seq_no in recorded:
                continue  # the aggregate records a seqNo once
            recorded[seq_no] = report
            running.add_report(seq_no, report)
        all_samples.extend(new_samples)
        running.add_samples(new_samples)
        assert running.figures() == transaction_figures(recorded, all_samples)
    assert RunningFigures.of(recorded, all_samples).figures() == transaction_figures(recorded, all_samples)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(samples, max_size=8), max_size=12))
def test_the_running_energy_equals_the_summary_of_every_sample(batches: list[list[Sample]]) -> None:
    running, seen = RunningEnergy(), []
    for batch in batches:
        running.add(batch)
        seen.extend(batch)
        assert running.summary() == summarise(seen)
        assert running.register_readings == register_readings(seen)  # what the energy read model prices


def test_a_reading_between_two_segments_merges_and_splits_them_exactly() -> None:
    at = [T0 + timedelta(minutes=m) for m in range(6)]

    def register(minute: int, wh: float) -> Sample:
        return Sample(at[minute], ENERGY_REGISTER, wh, "Wh", 0, wh)

    running = RunningEnergy()
    history = [register(0, 10.0), register(1, 20.0), register(3, 5.0), register(4, 7.0), register(2, 30.0)]
    for n, sample in enumerate(history, start=1):
        running.add([sample])
        assert running.summary() == summarise(history[:n])
    assert running.summary().register_resets == 1 and running.summary().energy_wh == 22.0


def test_segments_whose_sum_is_past_the_largest_float_make_an_infinite_energy_in_both() -> None:
    readings = [0.0, 1e308, 0.0, 1e308]  # two segments of 1e308 each, after a reset
    seen = [
        Sample(T0 + timedelta(minutes=m), ENERGY_REGISTER, value, "Wh", 0, value) for m, value in enumerate(readings)
    ]
    running = RunningEnergy()
    running.add(seen)

    assert summarise(seen).energy_wh == running.summary().energy_wh == math.inf
    assert summarise(seen[:2]).energy_wh == running_of(seen[:2]).summary().energy_wh == 1e308


def running_of(seen: list[Sample]) -> RunningEnergy:
    running = RunningEnergy()
    running.add(seen)
    return running
