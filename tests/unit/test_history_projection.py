"""The transactions and energy projections on the in-memory store: order, duplicates and batching of the
charger's messages do not change the rows they end with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import AggregateNotFoundError, Application
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.ocpp.meter_values import parse_meter_values
from adapters.settings import StoreSettings
from cloudbay_domain.reports import TransactionReport
from cloudbay_domain.transaction import Attribution, EventType, Transaction
from projections.db import ReadModelDB
from projections.energy import EnergyProjection, EnergyQueries
from projections.follower import Projection, catch_up, prepare, reset
from projections.poison import EventFailed
from projections.transaction_states import TransactionStates
from projections.transactions import TransactionQueries, TransactionsProjection

STATION = "CB-U1"
START = datetime(2026, 11, 25, 23, 50, tzinfo=UTC)  # the session runs over midnight


@dataclass(frozen=True)
class Message:
    seq_no: int | None  # None: meter values outside TransactionEvent (J03)
    at: datetime
    register_wh: float
    power_w: float


class Harness:
    """An in-memory event log and the two projections; messages recorded as the transactions service does
    (open on first sight, record the report, charge it to the card's user once the card is reported)."""

    def __init__(self) -> None:
        self.app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.db = ReadModelDB(StoreSettings("memory://"))
        self.loads = 0
        self.projections: list[Projection] = [TransactionsProjection(self.load), EnergyProjection(self.load)]
        for projection in self.projections:
            prepare(self.db, projection)

    def load(self, aggregate_id: UUID, version: int) -> Transaction:
        self.loads += 1
        transaction: Transaction = self.app.repository.get(aggregate_id, version=version)
        return transaction

    def transaction(self) -> Transaction:
        try:
            found: Transaction = self.app.repository.get(Transaction.create_id(STATION, "T-1"))
            return found
        except AggregateNotFoundError:
            return Transaction.open(STATION, "T-1", 1, 1)

    def deliver(self, message: Message, last_seq_no: int) -> None:
        samples = parse_meter_values(
            [
                {
                    "timestamp": message.at.isoformat(),
                    "sampled_value": [
                        {"value": message.register_wh},
                        {"value": message.power_w, "measurand": "Power.Active.Import"},
                    ],
                }
            ]
        )
        tx = self.transaction()
        if message.seq_no is None:
            tx.record_meter_values(samples)
            self.app.save(tx)
            return
        event_type = (
            EventType.STARTED if message.seq_no == 0 else EventType.ENDED if message.seq_no == last_seq_no else None
        )
        recorded = tx.report(
            TransactionReport(
                transaction_id="T-1",
                event_type=event_type or EventType.UPDATED,
                seq_no=message.seq_no,
                timestamp=message.at,
                trigger_reason="Authorized" if event_type is EventType.STARTED else "MeterValuePeriodic",
                id_token="card-1" if event_type is not None else None,
                evse_id=1,
                connector_id=1,
                charging_state="EVConnected" if event_type is EventType.ENDED else "Charging",
                stopped_reason="Local" if event_type is EventType.ENDED else None,
                samples=tuple(samples),
            )
        )
        if recorded and tx.attribution is None and tx.reported_id_token:
            tx.attribute("driver@example.com", tx.reported_id_token, Attribution.CARD.value, "Accepted")
        self.app.save(tx)

    def catch_up(self, limit: int = 500) -> None:
        for projection in self.projections:
            while catch_up(self.app, self.db, projection, limit=limit):
                pass

    def dump(self) -> dict[str, Any]:
        return {**TransactionQueries(self.db).dump(), **EnergyQueries(self.db).dump()}


def session(registers: list[float]) -> list[Message]:
    """Started, Updated..., Ended, every 3 minutes (the register as drawn: resets included)."""
    return [
        Message(seq_no, START + timedelta(minutes=3 * seq_no), wh, 1000.0 + seq_no)
        for seq_no, wh in enumerate(registers)
    ]


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[list[Message], list[Message], list[int]]:
    """(the messages in order, as delivered: shuffled, some twice, one J03; the catch-up points)."""
    registers = draw(st.lists(st.integers(0, 10**7).map(lambda n: n / 10), min_size=2, max_size=6))
    messages = session(registers)
    delivered = draw(st.permutations(messages))
    for duplicate in draw(st.lists(st.sampled_from(messages), max_size=3)):
        delivered.insert(draw(st.integers(0, len(delivered))), duplicate)
    j03 = Message(None, START + timedelta(seconds=90), draw(st.integers(0, 10**7)) / 10, 7000.0)
    delivered.insert(draw(st.integers(1, len(delivered))), j03)  # once a report has opened the transaction
    points = draw(st.lists(st.integers(0, len(delivered)), max_size=4))
    return messages + [j03], delivered, points


def in_order_and_as_delivered(
    scenario: tuple[list[Message], list[Message], list[int]], batch: int, new: Callable[[], Harness] = Harness
) -> tuple[Harness, Harness]:
    """Two harnesses: one given the messages in order and caught up once, one given them as delivered, caught
    up at the points drawn in batches of ``batch`` events."""
    in_order, delivered, points = scenario
    last_seq_no = max(m.seq_no for m in in_order if m.seq_no is not None)
    expected = new()
    for message in in_order:
        expected.deliver(message, last_seq_no)
    expected.catch_up()
    actual = new()
    for index, message in enumerate(delivered):
        if index in points:
            actual.catch_up(limit=batch)
        actual.deliver(message, last_seq_no)
    actual.catch_up(limit=batch)
    return expected, actual


@settings(max_examples=60, deadline=None)
@given(deliveries(), st.integers(1, 7))
def test_order_duplicates_and_batches_do_not_change_the_rows(
    scenario: tuple[list[Message], list[Message], list[int]], batch: int
) -> None:
    expected, actual = in_order_and_as_delivered(scenario, batch)
    assert actual.dump() == expected.dump()
    (row,) = actual.dump()["transactions"]
    assert row["status"] == "ended" and row["missing_seq_nos"] == "[]" and row["user_email"] == "driver@example.com"
    (bucket,) = actual.dump()["energy_daily"]
    assert bucket["day"] == "2026-11-25" and bucket["user_key"] == "driver@example.com"
    assert bucket["transactions"] == 1 and bucket["energy_mwh"] == round(row["energy_wh"] * 1000)


def test_a_rebuild_gives_the_same_rows() -> None:
    harness = Harness()
    for message in reversed(session([100.0, 1100.0, 50.0, 550.5])):
        harness.deliver(message, 3)
        harness.catch_up(limit=2)
    before = harness.dump()
    for projection in harness.projections:
        reset(harness.db, projection)
    harness.catch_up()
    assert harness.dump() == before
    (row,) = before["transactions"]
    assert (
        row["energy_wh"] == 1500.5 and row["register_resets"] == 1 and row["started_at"].startswith("2026-11-25T23:50")
    )


NOT_PRICED = {"currency": None, "cost_nanos": 0, "priced_at": None, "priced_wh": None, "priced_count": 0}


def test_meter_values_before_any_report_count_nowhere() -> None:
    harness = Harness()
    transaction = Transaction.open(STATION, "T-9", 1, 1)
    transaction.record_meter_values(
        parse_meter_values([{"timestamp": START.isoformat(), "sampled_value": [{"value": 5}]}])
    )
    harness.app.save(transaction)  # no report yet: no figures
    harness.catch_up()
    (row,) = harness.dump()["transactions"]
    assert row["version"] == 2 and row["energy_wh"] == 0 and row["status"] == "active" and row["user_email"] is None
    assert harness.dump()["energy_tx"] == [
        {"tx_id": row["tx_id"], "station_id": STATION, "user_key": "", "day": None, "energy_mwh": 0, **NOT_PRICED}
    ]
    assert harness.dump()["energy_daily"] == []


def test_transaction_states_load_only_when_their_copy_is_not_the_version_before() -> None:
    harness = Harness()
    for message in session([100.0, 400.0, 900.0]):
        harness.deliver(message, 2)
    harness.catch_up(limit=2)
    assert harness.loads == 0  # every event advanced the projection's own copy
    stored = harness.app.events.get(Transaction.create_id(STATION, "T-1"))
    events = [e for e in stored if isinstance(e, Transaction.Event)]
    states = TransactionStates(harness.load, size=1)
    assert states.figures(events[2]) is not None and harness.loads == 1  # never seen: loaded at that version
    assert states.advance(events[3]).version == 4 and harness.loads == 1
    again = states.figures(events[2])  # e.g. a batch rolled back after the copy moved on: loaded again
    assert harness.loads == 2 and again == states.figures(events[2])
    states.advance(events[0])  # another aggregate's Opened would evict it too: the size is a bound
    assert len(states) == 1


@pytest.mark.parametrize("batch", [1, 3, 500])
def test_a_failed_batch_is_applied_again_from_the_store(batch: int) -> None:
    harness = Harness()
    for message in session([100.0, 400.0, 900.0, 1000.0]):
        harness.deliver(message, 3)
    expected = Harness()
    for message in session([100.0, 400.0, 900.0, 1000.0]):
        expected.deliver(message, 3)
    expected.catch_up()
    transactions = harness.projections[0]
    assert catch_up(harness.app, harness.db, transactions, limit=1)  # Opened applied; the copy is at version 1
    original = transactions.apply

    def failing(event: Any, tx: Any, position: int) -> None:
        original(event, tx, position)
        if isinstance(event, Transaction.Reported) and event.seq_no == 2:
            raise RuntimeError("the read model's transaction fails after the copy moved on")

    transactions.apply = failing  # type: ignore[method-assign]
    with pytest.raises(EventFailed) as failed:  # named by its position and topic, the cause chained
        harness.catch_up(limit=batch)
    assert isinstance(failed.value.cause, RuntimeError)
    transactions.apply = original  # type: ignore[method-assign]
    harness.catch_up(limit=batch)
    assert harness.dump() == expected.dump() and harness.loads >= 1
