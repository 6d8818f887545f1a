"""The Transaction aggregate: given reported messages in any order, with duplicates, the same truth; its events
carry facts only, and events stored by the old code (with figures) still load."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudbay_domain.figures import MAX_GAPS, TransactionFigures, transaction_figures
from cloudbay_domain.metering import Sample
from cloudbay_domain.reports import TransactionReport
from cloudbay_domain.transaction import Attribution, EventType, InvalidTransactionId, Transaction, TransactionStatus

T0 = datetime(2026, 11, 25, 10, tzinfo=UTC)


def register(at: datetime, wh: float) -> Sample:
    return Sample(
        timestamp=at, measurand="Energy.Active.Import.Register", value=wh, unit="Wh", multiplier=0, raw_value=wh
    )


def message(seq: int, last: int, wh: float) -> TransactionReport:
    kind = EventType.STARTED if seq == 0 else EventType.ENDED if seq == last else EventType.UPDATED
    at = T0 + timedelta(minutes=seq)
    return TransactionReport(
        transaction_id="tx-1",
        seq_no=seq,
        event_type=kind,
        timestamp=at,
        trigger_reason="MeterValuePeriodic",
        samples=(register(at, wh),),
        stopped_reason="EVDisconnected" if kind is EventType.ENDED else None,
    )


def report(seq: int, kind: EventType, at: datetime, **facts: Any) -> TransactionReport:
    return TransactionReport("tx-1", kind, seq, at, facts.pop("trigger_reason", "Authorized"), **facts)


def replayed(tx: Transaction) -> Transaction:
    return replayed_from(tx.collect_events())


def replayed_from(events: Sequence[Any]) -> Transaction:
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
    recorded = [tx.report(m) for m in delivery]
    assert recorded.count(True) == len(values)  # each seqNo once; duplicates acknowledged, not recorded
    figures = tx.figures()
    assert figures["energy_wh"] == pytest.approx(values[-1] - values[0], rel=1e-9, abs=5e-4)  # rounded to mWh
    assert figures["status"] == "ended" and figures["missing_seq_nos"] == []
    assert figures["started_at"] == T0.isoformat()
    # events carry facts only: the figures are computed, the same from a replay as live
    events = tx.collect_events()
    assert not any(hasattr(e, "figures") for e in events)
    again = replayed_from(events)
    assert transaction_figures(again.reports, again.samples) == TransactionFigures(**{**figures, "missing_seq_nos": ()})


@settings(max_examples=40, deadline=None, database=None)
@given(data=st.data(), values=registers)
def test_replay_equals_live_and_gaps_are_recorded_not_invented(data: st.DataObject, values: list[float]) -> None:
    last = len(values) - 1
    messages = [message(seq, last, wh) for seq, wh in enumerate(values)]
    delivered = data.draw(st.lists(st.sampled_from(messages), min_size=1, max_size=len(messages) + 3))
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    for m in delivered:
        tx.report(m)
    seen = {m.seq_no for m in delivered}
    missing = [n for n in range(max(seen)) if n not in seen]
    assert [n for first, last in tx.missing_seq_nos for n in range(first, last + 1)] == missing
    assert all(b[0] > a[1] + 1 for a, b in zip(tx.missing_seq_nos, tx.missing_seq_nos[1:], strict=False))
    live = state(tx)
    assert state(replayed(tx)) == live


def test_a_second_ended_keeps_the_first_stop_reason() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    tx.report(report(0, EventType.STARTED, T0))
    later = T0 + timedelta(minutes=5)
    tx.report(report(1, EventType.ENDED, later, trigger_reason="StopAuthorized", stopped_reason="Local"))
    shutdown = T0 + timedelta(minutes=6)
    tx.report(report(2, EventType.ENDED, shutdown, trigger_reason="AbnormalCondition", stopped_reason="PowerLoss"))
    assert tx.status is TransactionStatus.ENDED and tx.figures()["stopped_reason"] == "Local"


def test_an_ended_before_its_started_and_a_gap() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    assert tx.report(report(3, EventType.ENDED, T0 + timedelta(minutes=30), stopped_reason="Local"))
    assert tx.status is TransactionStatus.ENDED and not tx.started_seen and tx.missing_seq_nos == [[0, 2]]
    assert tx.figures()["started_at"] == (T0 + timedelta(minutes=30)).isoformat()
    tx.report(report(0, EventType.STARTED, T0))
    assert tx.started_seen and tx.missing_seq_nos == [[1, 2]] and tx.figures()["duration_s"] == 1800
    assert tx.has_seen(3) and not tx.report(report(3, EventType.UPDATED, T0))  # a repeated seqNo: not recorded


def test_transaction_ids_longer_than_36_are_refused() -> None:
    with pytest.raises(InvalidTransactionId):
        Transaction.open("CB-1", "x" * 37, 1, 1)
    with pytest.raises(InvalidTransactionId):
        Transaction.open("CB-1", "", 1, 1)


def test_two_chargers_never_share_a_transaction() -> None:
    assert Transaction.create_id("CB-1", "1") != Transaction.create_id("CB-2", "1")


def test_attribution_evidence_and_the_first_reported_token_and_remote_start() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    tx.report(report(1, EventType.UPDATED, T0, id_token="abc123", remote_start_id=77))
    tx.report(report(0, EventType.STARTED, T0, id_token="first"))
    assert tx.reported_id_token == "FIRST" and tx.remote_start_id == 77  # by seqNo; tokens in canonical form
    tx.attribute(None, "FIRST", Attribution.UNKNOWN.value, "Unknown")
    assert tx.attribution is Attribution.UNKNOWN and tx.user is None
    tx.attribute("driver@example.com", "FIRST", Attribution.CARD.value, "Accepted")  # registered later
    assert (tx.user, tx.id_token, tx.attribution, tx.authorization) == (
        "driver@example.com",
        "FIRST",
        Attribution.CARD,
        "Accepted",
    )
    assert state(replayed(tx)) == state(tx)


def test_events_carry_the_reports_facts_and_no_figures() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    sample = register(T0, 1000.0)
    tx.report(replace(report(0, EventType.STARTED, T0, offline=True, charging_state="Charging"), samples=(sample,)))
    tx.record_meter_values([register(T0 + timedelta(minutes=1), 1500.0)])
    _, reported, recorded = tx.collect_events()
    assert isinstance(reported, Transaction.Reported) and isinstance(recorded, Transaction.MeterValuesRecorded)
    assert (reported.seq_no, reported.event_type, reported.occurred_at, reported.offline) == (0, "Started", T0, True)
    assert reported.samples == [sample.to_dict()] and not hasattr(reported, "figures")
    assert tx.figures()["energy_wh"] == 500.0


def test_meter_values_before_any_report_have_no_figures() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    tx.record_meter_values([register(T0, 5.0)])
    assert tx.figures() == {} and transaction_figures(tx.reports, tx.samples) is None


V1_FIGURES = {
    "status": "active",
    "started_at": "2026-11-25T10:00:00+00:00",
    "started_seen": True,
    "ended_at": None,
    "stopped_reason": None,
    "last_event_at": "2026-11-25T10:00:00+00:00",
    "duration_s": 0.0,
    "charging_s": 0.0,
    "idle_s": 0.0,
    "energy_wh": 0.0,
    "max_power_w": None,
    "last_power_w": None,
    "register_resets": 0,
    "unknown_unit_samples": 0,
    "last_sample_at": "2026-11-25T10:00:00+00:00",
    "missing_seq_nos": [],
    "charging_state": "Charging",
}


def v1_event(topic: type, originator_id: UUID, version: int, **state: Any) -> StoredEvent:
    """An event as the platform stored it before class_version 2 (no class_version, with figures)."""
    stamp = {"_type_": "datetime_iso", "_data_": "2026-12-01T21:30:49.426754+00:00"}
    body = json.dumps({"timestamp": stamp, **state, "figures": V1_FIGURES}).encode()
    return StoredEvent(originator_id=originator_id, originator_version=version, topic=get_topic(topic), state=body)


def test_v1_reported_and_meter_values_recorded_upcast_and_load() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    opened = Transaction.open("CB-1", "tx-1", 1, 1)
    app.save(opened)
    reading = register(T0, 1000.0).to_dict()
    app.recorder.insert_events(
        [
            v1_event(
                Transaction.Reported,
                opened.id,
                2,
                seq_no=0,
                event_type="Started",
                occurred_at={"_type_": "datetime_iso", "_data_": T0.isoformat()},
                trigger_reason="Authorized",
                offline=False,
                charging_state="Charging",
                stopped_reason=None,
                remote_start_id=None,
                id_token="04A1B2C3",
                samples=[reading],
            ),
            v1_event(Transaction.MeterValuesRecorded, opened.id, 3, samples=[register(T0, 1750.5).to_dict()]),
        ]
    )
    loaded: Transaction = app.repository.get(opened.id)
    assert loaded.version == 3 and loaded.reported_id_token == "04A1B2C3" and loaded.started_seen
    assert loaded.figures()["energy_wh"] == 750.5 and loaded.figures()["started_at"] == T0.isoformat()
    events = list(app.events.get(opened.id))
    assert not any(hasattr(e, "figures") for e in events)
    # what is written now is version 2, without figures
    loaded.report(report(1, EventType.ENDED, T0 + timedelta(minutes=9), stopped_reason="Local"))
    app.save(loaded)
    [stored] = app.recorder.select_events(opened.id, gt=3)
    state_now = json.loads(stored.state)
    assert state_now["class_version"] == 2 and "figures" not in state_now
    assert app.repository.get(opened.id).figures()["status"] == "ended"


def test_gaps_are_bounded_ranges_whatever_the_seq_no() -> None:
    tx = Transaction.open("CB-1", "tx-1", 1, 1)
    tx.report(report(0, EventType.STARTED, T0))
    started = time.perf_counter()
    tx.report(report(2147483647, EventType.UPDATED, T0 + timedelta(minutes=1)))
    assert tx.missing_seq_nos == [[1, 2147483646]]
    assert len(json.dumps(tx.figures())) < 2000 and time.perf_counter() - started < 0.5
    for seq_no in range(3, 1000, 2):
        tx.report(report(seq_no, EventType.UPDATED, T0 + timedelta(minutes=2)))
    assert len(tx.missing_seq_nos) == MAX_GAPS and tx.missing_seq_nos[0] == [1, 2]
