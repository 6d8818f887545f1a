"""Cost per day and month in the energy read model: the reading pairs priced once each, a late reading that
prices the transaction again, a tariff set later that reprices nothing, and the buckets a cost lands in (the
UTC day the transaction started, as its energy: a session across midnight in Zurich counts on one day); the
order, duplicates and batching of the charger's messages do not change the cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any
from unittest import mock

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.charging_cost import NANOS, TariffHistory, readings_cost_nanos, transaction_cost
from cloudbay_domain.metering import ENERGY_REGISTER, Sample, register_readings
from cloudbay_domain.pricing import ChargerTariff
from cloudbay_domain.tariff import Tariff
from cloudbay_domain.transaction import Transaction
from projections.energy import EnergyQueries
from projections.energy_cost import Priced
from tests.unit.test_history_projection import STATION, Harness, Message, deliveries, in_order_and_as_delivered

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 21:00 in Zurich
ZURICH = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}
NIGHT = {**ZURICH, "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"}}
SINCE = T0 - timedelta(days=2)


def history(*entries: tuple[datetime, dict[str, Any]]) -> TariffHistory:
    return TariffHistory([(since, Tariff.parse(raw)) for since, raw in entries])


def readings(values: list[tuple[int, float]]) -> list[tuple[datetime, float]]:
    return [(T0 + timedelta(minutes=minutes), wh) for minutes, wh in values]


@st.composite
def register(draw: st.DrawFn) -> list[tuple[datetime, float]]:
    steps = draw(st.lists(st.tuples(st.integers(1, 200), st.integers(-500, 9000)), min_size=1, max_size=12))
    minutes, wh, out = 0, 0.0, [(0, 0.0)]
    for step, energy in steps:
        minutes, wh = minutes + step, max(0.0, wh + energy / 7)  # a drop now and then: a reset
        out.append((minutes, wh))
    return readings(out)


@settings(max_examples=80, deadline=None)
@given(register(), st.data())
def test_pricing_the_new_pairs_adds_up_to_pricing_them_all(points: list[tuple[datetime, float]], data: Any) -> None:
    tariffs = history((SINCE, NIGHT))
    whole = readings_cost_nanos(points, tariffs)
    n = data.draw(st.integers(1, len(points)))
    assert readings_cost_nanos(points[:n], tariffs) + readings_cost_nanos(points[n - 1 :], tariffs) == whole
    first = Priced().advanced(points[:n], tariffs)
    assert first.advanced(points, tariffs) == Priced().advanced(points, tariffs)
    assert first.advanced(points, tariffs).cost_nanos == whole
    samples = [Sample(at, ENERGY_REGISTER, wh, "Wh", 0, wh) for at, wh in points]
    exact = transaction_cost(samples, tariffs)
    assert exact is not None and abs(Fraction(whole, NANOS) - exact.amount) <= Fraction(len(points), NANOS)


def test_a_late_reading_before_the_last_priced_one_prices_the_transaction_again() -> None:
    tariffs = history((SINCE, NIGHT))
    on_time = readings([(0, 0), (60, 11000), (120, 22000)])
    priced = Priced().advanced(on_time, tariffs)
    with_late = sorted([*on_time, (T0 + timedelta(minutes=90), 20000.0)])  # more energy before 23:00 (night)
    assert priced.advanced(with_late, tariffs) == Priced().advanced(with_late, tariffs)
    assert priced.advanced(with_late, tariffs).cost_nanos == (11 * 30 + 9 * 18 + 2 * 18) * NANOS // 100


def test_a_tariff_set_later_does_not_reprice_what_was_charged() -> None:
    first = readings([(0, 0), (60, 11000)])  # 21:00-22:00 Zurich, day price
    flat_then_night = history((SINCE, ZURICH), (T0 + timedelta(minutes=90), NIGHT))
    priced = Priced().advanced(first, flat_then_night.known_at(T0 + timedelta(minutes=61)))
    assert priced.cost_nanos == 11 * 30 * NANOS // 100
    later = readings([(0, 0), (60, 11000), (120, 22000)])  # 22:00-23:00: the night tariff from 22:30 on
    assert priced.advanced(later, flat_then_night.known_at(T0 + timedelta(minutes=121))).cost_nanos == (
        (11 * 30 + 5.5 * 30 + 5.5 * 18) * NANOS // 100
    )
    assert Priced().advanced(first, TariffHistory([])) == Priced()  # no tariff: nothing priced


def test_another_currency_prices_the_transaction_again_in_it() -> None:
    points = readings([(0, 0), (60, 11000)])
    chf = Priced().advanced(points, history((SINCE, ZURICH)))
    eur = chf.advanced(points, history((SINCE, ZURICH), (SINCE + timedelta(hours=1), {**ZURICH, "currency": "EUR"})))
    assert (chf.currency, eur.currency) == ("CHF", "EUR") and eur.cost_nanos == 11 * 30 * NANOS // 100


START = datetime.now(UTC).replace(hour=22, minute=30, second=0, microsecond=0) + timedelta(days=3)  # 23:30 Zurich


def test_a_session_across_midnight_in_zurich_costs_on_the_utc_day_it_started() -> None:
    harness = Harness()
    record = ChargerTariff(STATION)
    record.set(Tariff.parse(NIGHT), by="owner@example.com")
    harness.app.save(record)
    session = [Message(n, START + timedelta(minutes=30 * n), 3000.0 * n, 6000.0) for n in range(4)]  # to 01:00
    for message in session:
        harness.deliver(message, last_seq_no=3)
        harness.catch_up(limit=2)  # batches of two events: a transaction priced in several steps
    day = START.date().isoformat()
    queries = EnergyQueries(harness.db)
    (item,) = queries.for_charger(STATION, "day", None, None)
    assert item["period"] == day and item["energy_wh"] == 9000
    assert (item["cost"], item["currency"], item["costs"]) == ("1.62", "CHF", {"CHF": "1.62"})  # 9 kWh at night
    assert queries.for_charger(STATION, "month", None, None)[0]["cost"] == "1.62"
    assert queries.for_user("driver@example.com", "day", None, None) == [item]
    (row,) = harness.dump()["energy_tx"]
    assert (row["priced_count"], row["priced_wh"], row["cost_nanos"]) == (4, 9000, 162 * NANOS // 100)

    record.set(Tariff.parse(ZURICH), by="owner@example.com")  # later: no night price any more
    harness.app.save(record)
    harness.catch_up()
    assert queries.for_charger(STATION, "day", None, None)[0]["cost"] == "1.62"  # what was charged stays priced


def test_a_charger_without_a_tariff_has_a_null_cost() -> None:
    harness = Harness()
    for message in [Message(0, START, 0, 6000.0), Message(1, START + timedelta(hours=1), 5000, 6000.0)]:
        harness.deliver(message, last_seq_no=1)
    harness.catch_up()
    (item,) = EnergyQueries(harness.db).for_charger(STATION, "day", None, None)
    assert (item["energy_wh"], item["cost"], item["currency"], item["costs"]) == (5000, None, None, {})
    assert harness.dump()["energy_cost_daily"] == []


EARLY = SINCE - timedelta(days=30)


def priced_harness() -> Harness:
    """A harness whose charger has had the night tariff since before its sessions (2026-11-25)."""
    harness = Harness()
    with mock.patch.object(
        ChargerTariff.TariffSet, "create_timestamp", staticmethod(lambda: SINCE - timedelta(days=30))
    ):
        record = ChargerTariff(STATION)
        record.set(Tariff.parse(NIGHT), by="owner@example.com")
    harness.app.save(record)
    return harness


@settings(max_examples=40, deadline=None)
@given(deliveries(), st.integers(1, 7))
def test_order_duplicates_late_readings_and_batches_do_not_change_the_cost(
    scenario: tuple[list[Message], list[Message], list[int]], batch: int
) -> None:
    expected, actual = in_order_and_as_delivered(scenario, batch, priced_harness)
    assert actual.dump() == expected.dump()
    (row,) = actual.dump()["energy_tx"]
    transaction: Transaction = actual.app.repository.get(Transaction.create_id(STATION, "T-1"))
    assert row["cost_nanos"] == readings_cost_nanos(register_readings(transaction.samples), history((EARLY, NIGHT)))
    (bucket,) = actual.dump()["energy_cost_daily"]
    assert (bucket["day"], bucket["currency"], bucket["cost_nanos"]) == ("2026-11-25", "CHF", row["cost_nanos"])
