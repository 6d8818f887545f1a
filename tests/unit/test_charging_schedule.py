"""A plan as profile periods (never above the charger's cap, never below the plan at any instant, at most the
periods the charger takes), and signed quote ids (read back; altered or re-signed ones refused)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cloudbay_domain.charging_schedule import profile_periods
from cloudbay_domain.planner import EvLimits, Plan, Slot
from cloudbay_domain.quotes import QuoteRequest
from services.quote_tickets import InvalidQuote, QuoteTickets

START = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
LIMITS = EvLimits(Fraction(11040), 3)


def plan_of(powers: list[int]) -> Plan:
    slots = tuple(
        Slot(
            START + timedelta(minutes=15 * i),
            START + timedelta(minutes=15 * (i + 1)),
            Decimal("0.2"),
            LIMITS.max_power_w,
        )
        for i in range(len(powers))
    )
    return Plan(slots, tuple(Fraction(p) for p in powers), True)


def limit_at(periods: list[tuple[int, Fraction]], second: int) -> Fraction:
    return [limit for at, limit in periods if at <= second][-1]


@given(st.lists(st.sampled_from([0, 1380, 4140, 7000, 11040]), min_size=1, max_size=96), st.integers(1, 30))
def test_periods_never_exceed_the_cap_nor_fall_below_the_plan(powers: list[int], max_periods: int) -> None:
    periods = profile_periods(plan_of(powers), LIMITS, "W", max_periods)
    assert 1 <= len(periods) <= max_periods and periods[0][0] == 0
    assert [at for at, _ in periods] == sorted({at for at, _ in periods})
    assert all(a[1] != b[1] for a, b in zip(periods, periods[1:], strict=False))  # neighbours differ
    for i, power in enumerate(powers):
        assert power <= limit_at(periods, i * 900) <= LIMITS.max_power_w


def test_periods_in_amperes_and_joined_when_equal() -> None:
    periods = profile_periods(plan_of([0, 0, 11040, 11040, 4140]), LIMITS, "A")
    assert periods == [(0, Fraction(0)), (1800, Fraction(16)), (3600, Fraction(6))]


def test_a_quote_id_reads_back_and_cannot_be_altered_or_signed_elsewhere() -> None:
    tickets = QuoteTickets(b"k" * 32)
    request = QuoteRequest(by=START + timedelta(hours=8), energy_wh=Fraction(30000), min_current_a=Fraction(6))
    ticket = tickets.issue("CB-1", request, START, 3)
    quote_id = tickets.quote_id(ticket)
    assert tickets.read(quote_id) == ticket and ticket.expires_at == START + timedelta(minutes=15)
    payload, mac = quote_id.split(".")
    other = QuoteTickets(b"x" * 32).quote_id(ticket)
    for bad in (payload[:-2] + "AA." + mac, payload, "", "a.b", other, quote_id + "A"):
        with pytest.raises(InvalidQuote):
            tickets.read(bad)
