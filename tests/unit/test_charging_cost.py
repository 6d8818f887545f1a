"""A transaction's cost: the register's energy spread over the quarter hours it was charged in, each priced by
the tariff in force then (a change mid-session, a night window); a reset starts afresh; before any tariff,
nothing is priced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from cloudbay_domain.charging_cost import TariffHistory, energy_intervals, transaction_cost
from cloudbay_domain.metering import ENERGY_REGISTER, Sample
from cloudbay_domain.pricing import ChargerTariff
from cloudbay_domain.tariff import Tariff

T0 = datetime(2026, 12, 1, 20, 0, tzinfo=UTC)  # 21:00 in Zurich
DAY = Tariff.parse({"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"})
NIGHT = Tariff.parse(
    {
        "currency": "CHF",
        "price_per_kwh": "0.30",
        "time_zone": "Europe/Zurich",
        "night": {"from": "22:00", "to": "06:00", "price_per_kwh": "0.18"},
    }
)


def reading(minutes: int, wh: float) -> Sample:
    return Sample(T0 + timedelta(minutes=minutes), ENERGY_REGISTER, wh, "Wh", 0, wh)


def test_energy_is_spread_evenly_over_the_quarter_hours() -> None:
    pieces = energy_intervals([reading(10, 1000), reading(40, 4000)])
    assert pieces == [
        (T0 + timedelta(minutes=10), Fraction(500)),
        (T0 + timedelta(minutes=15), Fraction(1500)),
        (T0 + timedelta(minutes=30), Fraction(1000)),
    ]


def test_each_interval_is_priced_by_the_tariff_in_force_then() -> None:
    samples = [reading(0, 0), reading(60, 11000), reading(120, 22000)]  # 21:00-22:00 and 22:00-23:00 local
    night = transaction_cost(samples, TariffHistory([(T0 - timedelta(days=1), NIGHT)]))
    assert night is not None and night.amount == Fraction(11 * 30 + 11 * 18, 100) and night.priced_wh == 22000
    changed = TariffHistory([(T0 - timedelta(days=1), DAY), (T0 + timedelta(minutes=60), NIGHT)])
    mixed = transaction_cost(samples, changed)
    assert mixed is not None and mixed.amount == Fraction(11 * 30 + 11 * 18, 100)
    late = transaction_cost(samples, TariffHistory([(T0 + timedelta(minutes=60), DAY)]))
    assert late is not None and late.amount == Fraction(11 * 30, 100) and late.priced_wh == 11000
    assert transaction_cost(samples, TariffHistory([])) is None


def test_a_register_reset_starts_afresh() -> None:
    samples = [reading(0, 5000), reading(15, 6000), reading(30, 100), reading(45, 1100)]
    cost = transaction_cost(samples, TariffHistory([(T0 - timedelta(days=1), DAY)]))
    assert cost is not None and cost.priced_wh == 2000 and cost.amount == Fraction(60, 100)


def test_the_tariff_history_is_rebuilt_from_the_stored_events() -> None:
    record = ChargerTariff("CB-1")
    record.set(DAY, "owner@example.com")
    record.set(NIGHT, "owner@example.com")
    replayed = None
    for stored in record.collect_events():  # events stored before the history existed replay the same way
        replayed = stored.mutate(replayed)
    assert isinstance(replayed, ChargerTariff)
    assert [t.night is not None for _, t in replayed.tariffs()] == [False, True]
    assert replayed.history == record.history and replayed.history[0][0] < replayed.history[1][0]
