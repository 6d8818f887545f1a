"""The Transaction aggregate: given reported messages in any order, with duplicates, the same truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.id_token import TokenKind
from cloudbay_domain.metering import Sample
from cloudbay_domain.transaction import Attribution, EventType, InvalidTransactionId, Transaction, TransactionStatus
from services.platform import CloudBay

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def register(at: datetime, wh: float) -> Sample:
    return Sample(
        timestamp=at, measurand="Energy.Active.Import.Register", value=wh, unit="Wh", multiplier=0, raw_value=wh
    )


def message(seq: int, last: int, wh: float) -> dict[str, Any]:
    kind = EventType.STARTED if seq == 0 else EventType.ENDED if seq == last else EventType.UPDATED
    at = T0 + timedelta(minutes=seq)
    return {
        "seq_no": seq,
        "event_type": kind,
        "timestamp": at,
        "trigger_reason": "MeterValuePeriodic",
        "samples": [register(at, wh)],
        "stopped_reason": "EVDisconnected" if kind is EventType.ENDED else None,
    }


def replayed(tx: Transaction) -> Transaction:
    events = tx.collect_events()
    copy: Any = None
    for e in events:
        copy = e.mutate(copy)
    assert copy is not None
    return copy


def state(tx: Transaction) -> dict[str, Any]:
    return {k: v for k, v in tx.__dict__.items() if k not in ("_pending_events", "_modified_on")}


# non-decreasing registers: start value plus cumulative non-negative steps
registers = st.tuples(
    st.floats(min_value=0, max_value=1e7, allow_nan=False),
    st.lists(st.floats(min_value=0, max_value=5e4, allow_nan=False), min_size=1, max_size=12),
).map(lambda t: [t[0] + sum(t[1][:i]) for i in range(len(t[1]) + 1)])


@settings(max_examples=80, deadline=None, database=None)
@given(data=st.data(), values=registers)
def test_energy_is_the_register_difference_whatever_the_delivery(data: st.DataObject, values: list[float]) -> None:
    last = len(values) - 1
    messages = [message(seq, last, wh) for seq, wh in enumerate(values)]
    order = data.draw(st.permutations(messages))
    duplicates = data.draw(st.lists(st.sampled_from(messages), max_size=4))
    delivery = order + duplicates
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    recorded = [tx.report(**m) for m in delivery]
    assert recorded.count(True) == len(values)  # each seqNo once; duplicates acknowledged, not recorded
    figures = tx.figures()
    assert figures["energy_wh"] == pytest.approx(values[-1] - values[0], rel=1e-9, abs=5e-4)  # rounded to mWh
    assert figures["status"] == "ended" and figures["missing_seq_nos"] == []
    assert figures["started_at"] == T0.isoformat()
    # the figures stored with the last event are the figures of the whole transaction
    assert tx.collect_events()[-1].figures == figures  # type: ignore[attr-defined]


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data(), values=registers)
def test_replay_equals_live_and_gaps_are_recorded_not_invented(data: st.DataObject, values: list[float]) -> None:
    last = len(values) - 1
    messages = [message(seq, last, wh) for seq, wh in enumerate(values)]
    delivered = data.draw(st.lists(st.sampled_from(messages), min_size=1, max_size=len(messages) + 3))
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    for m in delivered:
        tx.report(**m)
    seen = {m["seq_no"] for m in delivered}
    assert tx.missing_seq_nos == [n for n in range(max(seen)) if n not in seen]
    live = state(tx)
    assert state(replayed(tx)) == live


def test_a_second_ended_keeps_the_first_stop_reason() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    tx.report(seq_no=0, event_type=EventType.STARTED, timestamp=T0, trigger_reason="Authorized")
    tx.report(
        seq_no=1,
        event_type=EventType.ENDED,
        timestamp=T0 + timedelta(minutes=5),
        trigger_reason="StopAuthorized",
        stopped_reason="Local",
    )
    tx.report(
        seq_no=2,
        event_type=EventType.ENDED,
        timestamp=T0 + timedelta(minutes=6),
        trigger_reason="AbnormalCondition",
        stopped_reason="PowerLoss",
    )
    assert tx.status is TransactionStatus.ENDED and tx.figures()["stopped_reason"] == "Local"


def test_transaction_ids_longer_than_36_are_refused() -> None:
    with pytest.raises(InvalidTransactionId):
        Transaction.open("CB-1", "x" * 37, 1, 1)
    with pytest.raises(InvalidTransactionId):
        Transaction.open("CB-1", "", 1, 1)


def test_two_chargers_never_share_a_transaction() -> None:
    assert Transaction.create_id("CB-1", "1") != Transaction.create_id("CB-2", "1")


def test_attribution_card_remote_start_and_unknown_then_known() -> None:
    app = CloudBay(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    app.whitelist_charger("CB-1", "home")
    app.charger_connected("CB-1", "s1", "node")
    result = app.record_transaction_event(
        "CB-1",
        transaction_id="t-unknown",
        event_type=EventType.STARTED,
        seq_no=0,
        timestamp=T0,
        trigger_reason="Authorized",
        id_token="abc123",
    )
    assert result.id_token_status == "Unknown" and result.transaction.attribution is Attribution.UNKNOWN
    app.register_id_token("ABC123", "ISO14443", "driver@example.com", TokenKind.RFID)
    result = app.record_transaction_event(
        "CB-1",
        transaction_id="t-unknown",
        event_type=EventType.UPDATED,
        seq_no=1,
        timestamp=T0,
        trigger_reason="MeterValuePeriodic",
    )
    assert result.transaction.user == "driver@example.com" and result.id_token_status is None
    app.record_remote_start("CB-1", 77, "app-user@example.com", 1, "APPTOKEN")
    result = app.record_transaction_event(
        "CB-1",
        transaction_id="t-remote",
        event_type=EventType.STARTED,
        seq_no=0,
        timestamp=T0,
        trigger_reason="RemoteStart",
        remote_start_id=77,
    )
    assert result.transaction.user == "app-user@example.com" and result.transaction.attribution is Attribution.APP
    again = app.record_transaction_event(
        "CB-1",
        transaction_id="t-remote",
        event_type=EventType.STARTED,
        seq_no=0,
        timestamp=T0,
        trigger_reason="RemoteStart",
        remote_start_id=77,
    )
    assert again.recorded is False
    assert app.repository.get(again.transaction.id).version == result.transaction.version
