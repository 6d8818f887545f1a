"""The transactions and energy projections on the in-memory store: order, duplicates and batching of the
charger's messages do not change the rows they end with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.id_token import TokenKind
from cloudbay_domain.metering import parse_meter_values
from cloudbay_domain.transaction import EventType, Transaction
from projections.db import ReadModelDB
from projections.energy import EnergyProjection, EnergyQueries
from projections.follower import Projection, catch_up, prepare, reset
from projections.transactions import TransactionQueries, TransactionsProjection
from services.platform import CloudBay
from adapters.settings import StoreSettings

STATION = "CB-U1"
START = datetime(2026, 11, 25, 23, 50, tzinfo=UTC)  # the session runs over midnight


@dataclass(frozen=True)
class Message:
    seq_no: int | None  # None: meter values outside TransactionEvent (J03)
    at: datetime
    register_wh: float
    power_w: float


class Harness:
    def __init__(self) -> None:
        self.app = CloudBay(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.db = ReadModelDB(StoreSettings("memory://"))
        self.projections: list[Projection] = [TransactionsProjection(), EnergyProjection()]
        for projection in self.projections:
            prepare(self.db, projection)
        self.app.whitelist_charger(STATION, "test")
        self.app.register_id_token("card-1", "ISO14443", "driver@example.com", TokenKind.RFID)

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
        if message.seq_no is None:
            self.app.record_meter_values(STATION, 1, samples, "T-1")
            return
        event_type = (
            EventType.STARTED if message.seq_no == 0 else EventType.ENDED if message.seq_no == last_seq_no else None
        )
        self.app.record_transaction_event(
            STATION,
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
            samples=samples,
        )

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


@settings(max_examples=60, deadline=None)
@given(deliveries(), st.integers(1, 7))
def test_order_duplicates_and_batches_do_not_change_the_rows(
    scenario: tuple[list[Message], list[Message], list[int]], batch: int
) -> None:
    in_order, delivered, points = scenario
    last_seq_no = max(m.seq_no for m in in_order if m.seq_no is not None)
    expected = Harness()
    for message in in_order:
        expected.deliver(message, last_seq_no)
    expected.catch_up()

    actual = Harness()
    for index, message in enumerate(delivered):
        if index in points:
            actual.catch_up(limit=batch)
        actual.deliver(message, last_seq_no)
    actual.catch_up(limit=batch)

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


def test_meter_values_before_any_report_count_nowhere() -> None:
    harness = Harness()
    transaction = Transaction.open(STATION, "T-9", 1, 1)
    transaction.record_meter_values(
        parse_meter_values([{"timestamp": START.isoformat(), "sampled_value": [{"value": 5}]}])
    )
    harness.app.save(transaction)  # no report yet: the event's figures are empty
    harness.catch_up()
    (row,) = harness.dump()["transactions"]
    assert row["version"] == 2 and row["energy_wh"] == 0 and row["status"] == "active" and row["user_email"] is None
    assert harness.dump()["energy_tx"] == [
        {"tx_id": row["tx_id"], "station_id": STATION, "user_key": "", "day": None, "energy_mwh": 0}
    ]
    assert harness.dump()["energy_daily"] == []
