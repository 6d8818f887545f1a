"""What a transaction cost: its energy, interval by interval, at the tariff in force in each (pure).

The energy register's readings (``metering.register_readings``) give the energy between two readings; that
energy is spread evenly over the time between them and cut at every UTC quarter hour (``planner.grid``), so each
piece lies in one quarter hour of every tariff. A piece is priced by the tariff in force at its start (the last
one set at or before it: ``TariffHistory``), following its price series where given and where it has a price; a
piece before any tariff, or under a tariff in another currency than the latest one, is not priced. A register
that goes down (a reset) starts afresh, as the energy figure does.

``readings_cost_nanos`` prices reading pairs one by one (in billionths, each pair rounded once): a read model
adds the pairs of new readings to what it priced before instead of pricing the whole transaction again.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from cloudbay_domain.metering import Sample, register_readings
from cloudbay_domain.planner import grid
from cloudbay_domain.tariff import PriceSeries, Tariff

Reading = tuple[datetime, float]
NANOS = 10**9  # a read model keeps amounts in billionths of the currency unit


def energy_intervals(samples: Iterable[Sample]) -> list[tuple[datetime, Fraction]]:
    """(start of a piece of at most a quarter hour, Wh charged in it), in time order."""
    return reading_intervals(register_readings(samples))


def reading_intervals(readings: Sequence[Reading]) -> list[tuple[datetime, Fraction]]:
    """The pieces of ``energy_intervals`` between consecutive ``readings`` (sorted): each pair gives its own."""
    out: list[tuple[datetime, Fraction]] = []
    for (t0, v0), (t1, v1) in zip(readings, readings[1:], strict=False):
        if v1 <= v0:
            continue  # nothing charged, or a reset
        energy = Fraction(v1) - Fraction(v0)
        if t1 <= t0:
            out.append((t0, energy))
            continue
        span = Fraction(int((t1 - t0).total_seconds() * 1000))
        for start, end in grid(t0, t1):
            out.append((start, energy * Fraction(int((end - start).total_seconds() * 1000)) / span))
    return out


@dataclass(frozen=True)
class TariffHistory:
    """The tariffs of one charger, each with the time it was set, oldest first."""

    entries: Sequence[tuple[datetime, Tariff]]

    def in_force(self, at: datetime) -> Tariff | None:
        i = bisect.bisect_right([since for since, _ in self.entries], at)
        return self.entries[i - 1][1] if i else None

    @property
    def currency(self) -> str | None:
        return self.entries[-1][1].currency if self.entries else None

    def known_at(self, moment: datetime) -> TariffHistory:
        """The tariffs set at or before ``moment`` (what was known when a reading was recorded)."""
        return TariffHistory(self.entries[: bisect.bisect_right([since for since, _ in self.entries], moment)])


@dataclass(frozen=True)
class Cost:
    currency: str
    amount: Fraction
    priced_wh: Fraction  # the energy priced (what ran before any tariff is not)


def transaction_cost(
    samples: Iterable[Sample], history: TariffHistory, series: Callable[[str], PriceSeries | None] = lambda _: None
) -> Cost | None:
    """The cost of the energy in ``samples`` under ``history``; None without a tariff."""
    currency = history.currency
    if currency is None:
        return None
    amount, priced = _priced(energy_intervals(samples), history, currency, series)
    return Cost(currency, amount, priced)


def readings_cost_nanos(
    readings: Sequence[Reading], history: TariffHistory, series: Callable[[str], PriceSeries | None] = lambda _: None
) -> int:
    """The cost in ``NANOS`` of the energy between consecutive ``readings`` (sorted), each pair's cost rounded
    once (half to even): a sum over pairs, so the cost of readings appended later adds to what was priced before
    (``readings_cost_nanos(r[:n]) + readings_cost_nanos(r[n - 1:]) == readings_cost_nanos(r)``), exactly."""
    currency = history.currency
    if currency is None:
        return 0
    total = 0
    for pair in zip(readings, readings[1:], strict=False):
        total += round(_priced(reading_intervals(pair), history, currency, series)[0] * NANOS)
    return total


def _priced(
    pieces: Iterable[tuple[datetime, Fraction]],
    history: TariffHistory,
    currency: str,
    series: Callable[[str], PriceSeries | None],
) -> tuple[Fraction, Fraction]:
    """(amount, Wh priced) of ``pieces``: each at the tariff in force at its start, if in ``currency``."""
    amount, priced = Fraction(0), Fraction(0)
    for at, wh in pieces:
        tariff = history.in_force(at)
        if tariff is None or tariff.currency != currency:
            continue
        followed = series(tariff.series) if tariff.series else None
        amount += Fraction(tariff.price_at(at, followed)) * wh / 1000
        priced += wh
    return amount, priced
