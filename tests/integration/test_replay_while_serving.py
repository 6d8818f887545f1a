"""`cloudbay replay` while the service runs: the live followers and the rebuild share the projections' tracking
locks, so neither deadlocks, and the read models end equal to a rebuild made alone. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console

from adapters.cli.rebuild import rebuild_all, replay_progress
from adapters.settings import StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.metering import normalised_sample
from cloudbay_domain.reports import ConnectorStatus, EventType, StatusReport, TransactionReport
from projections.db import ReadModelDB
from projections.energy import EnergyQueries
from projections.fleet import FleetQueries
from projections.transactions import TransactionQueries
from tests.support import LiveServer

STATIONS = ("CB-R1", "CB-R2", "CB-R3")
START = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def write_load(server: LiveServer, stop: threading.Event, errors: list[BaseException]) -> None:
    """Status changes and transaction events on every station, as fast as the store takes them."""
    platform = server.platform
    statuses = list(ConnectorStatus)
    n = 0
    try:
        while not stop.is_set():
            for station_id in STATIONS:
                at = START + timedelta(seconds=n)
                platform.chargers.record_status(station_id, StatusReport(1, 1, statuses[n % len(statuses)], at))
                sample = normalised_sample(at, None, float(n * 10))
                report = TransactionReport(
                    transaction_id=f"T-{n // 20}",
                    event_type=EventType.STARTED if n % 20 == 0 else EventType.UPDATED,
                    seq_no=n % 20,
                    timestamp=at,
                    trigger_reason="MeterValuePeriodic",
                    evse_id=1,
                    connector_id=1,
                    charging_state="Charging",
                    samples=(sample,),
                )
                platform.transactions.record_event(station_id, report)
            n += 1
            stop.wait(0.01)  # steady writes during every replay, not a log that outgrows the replays
    except BaseException as e:  # surfaced by the test
        errors.append(e)


def dumps(db: ReadModelDB) -> dict[str, Any]:
    return {
        "fleet": FleetQueries(db).dump(),
        "transactions": TransactionQueries(db).dump(),
        "energy": EnergyQueries(db).dump(),
    }


def test_replay_while_the_followers_apply_neither_deadlocks_nor_loses_an_event(store_url: str, tmp_path: Path) -> None:
    server = LiveServer(store_url, tmp_path / "data").start()
    stop, errors = threading.Event(), list[BaseException]()
    event_log = build_log(server.settings)
    db = ReadModelDB(StoreSettings(store_url))
    writer = threading.Thread(target=write_load, args=(server, stop, errors), daemon=True)
    try:
        for station_id in STATIONS:
            server.whitelist(station_id)
            server.platform.chargers.connected(station_id, f"s-{station_id}", "test-node")
        writer.start()
        summaries = []
        for _ in range(5):  # the old code deadlocked about one replay in five
            head = event_log.recorder.max_notification_id() or 0
            with replay_progress(Console(quiet=True), disable=True) as progress:
                summaries.append((head, rebuild_all(event_log, db, head, progress)))
        stop.set()
        writer.join(timeout=30)
        assert not errors, errors
        runtime = server.runtime
        assert runtime is not None
        assert {name: f.failure for name, f in runtime.followers.items()} == dict.fromkeys(runtime.followers)
        for head, summary in summaries:  # each rebuild reached (at least) the head it started from
            assert all(s["position"] >= head and s["log_events"] >= 0 for s in summary.values()), summary
        server.settle()
        live = dumps(db)
        assert live["transactions"]["transactions"] and live["fleet"]["connectors"]
    finally:
        stop.set()
        server.stop()
    try:  # alone, from scratch: the same read models
        head = event_log.recorder.max_notification_id() or 0
        with replay_progress(Console(quiet=True), disable=True) as progress:
            alone = rebuild_all(event_log, db, head, progress)
        assert dumps(db) == live
        for rebuilt in alone.values():
            assert rebuilt["position"] == head and rebuilt["events"] == rebuilt["log_events"]
    finally:
        db.close()
        event_log.close()
