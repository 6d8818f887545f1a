"""Kept copies (``EventLog.take``) are only a shortcut: what another node writes to the same store is never lost
or ignored, and a transaction opened without reading its stream first is still recorded once.

Two platforms on one store stand for two nodes. ``here`` holds the charger's session: its calls run as a
session runs them (``run_deferred``: on the event loop while what they need was kept). ``there`` is another
node (a REST call, a presence sweep) writing the same charger.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters.ocpp import messages
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.transaction import Attribution, Transaction
from services.platform import Platform
from services.transactions import TransactionEventResult

SID = "KEPT-1"


@pytest.fixture
def nodes(store_url: str, tmp_path: Path) -> Iterator[tuple[Platform, Platform]]:
    here = Platform(build_log(Settings(store=StoreSettings(store_url), data_dir=tmp_path / "here")), timeout=10)
    there = Platform(build_log(Settings(store=StoreSettings(store_url), data_dir=tmp_path / "there")), timeout=10)
    here.chargers.whitelist(SID, "home")
    here.chargers.connected(SID, "s1", "here")  # saved by this node: its copy is kept
    yield here, there
    here.close()
    there.close()


def event(kind: str, seq: int, tx_id: str = "T1", **info: Any) -> Any:
    payload: dict[str, Any] = {
        "event_type": kind,
        "timestamp": datetime(2026, 12, 1, 10, seq, tzinfo=UTC).isoformat(),
        "trigger_reason": "CablePluggedIn",
        "seq_no": seq,
        "transaction_info": {"transaction_id": tx_id, **info},
        "evse": {"id": 1, "connector_id": 1},
    }
    return payload


def record(node: Platform, payload: dict[str, Any], **extra: Any) -> TransactionEventResult:
    report = messages.transaction_report(**{**payload, **extra})

    async def call() -> TransactionEventResult:
        result: TransactionEventResult = await node.run_deferred(node.transactions.record_event, SID, report)
        return result

    return asyncio.run(call())


def stored(node: Platform, tx_id: str = "T1") -> Transaction:
    tx: Transaction = node.log.repository.get(Transaction.create_id(SID, tx_id))
    return tx


def test_a_setting_another_node_changed_decides_an_offline_start(nodes: tuple[Platform, Platform]) -> None:
    here, there = nodes
    here.chargers.set_rfid_required(SID, False)  # this node's kept copy: no card needed
    there.chargers.set_rfid_required(SID, True)
    # offline: the EVSE map is not touched, so the charger is only read, and its save checks nothing
    result = record(here, event("Started", 0), offline=True)
    assert result.recorded
    assert stored(here).attribution != Attribution.DEFAULT_ACCOUNT.value  # an RFID card is required now


def test_a_remote_start_another_node_recorded_attributes_the_transaction(nodes: tuple[Platform, Platform]) -> None:
    here, there = nodes
    there.chargers.change(SID, lambda c: c.request_remote_start(7, "alice", 1, "APPTOKEN7"))
    record(here, event("Started", 0, remote_start_id=7))
    tx = stored(here)
    assert (tx.attribution, tx.user) == (Attribution.APP.value, "alice")
    assert here.chargers.get(SID).running == {1: "T1"}


def test_a_version_precondition_is_checked_against_the_store_not_a_kept_copy(
    nodes: tuple[Platform, Platform],
) -> None:
    here, there = nodes
    there.chargers.record_status(SID, messages.status_report("2026-12-01T10:00:00Z", "Occupied", 1, 1))
    latest = there.chargers.get(SID).version
    assert here.chargers.set_rfid_required(SID, False, expected=[latest])  # no false "changed meanwhile"
    assert not here.chargers.get(SID).rfid_required


def test_a_start_sent_again_after_a_restart_is_recorded_once(nodes: tuple[Platform, Platform]) -> None:
    here, _ = nodes
    assert record(here, event("Started", 0)).recorded
    assert record(here, event("Updated", 1)).recorded
    here.log.forget_kept()  # as after a restart: the transaction is not kept, the Started is not read first
    again = record(here, event("Started", 0))
    assert not again.recorded  # a duplicate seqNo: acknowledged, not stored again
    assert sorted(stored(here).reports) == [0, 1]


def test_a_start_another_node_recorded_is_not_opened_twice(nodes: tuple[Platform, Platform]) -> None:
    here, there = nodes
    record(there, event("Started", 0))  # the charger was on the other node a moment ago
    assert record(here, event("Updated", 1)).recorded
    assert not record(here, event("Started", 0)).recorded
    assert sorted(stored(here).reports) == [0, 1]
