"""The event store decides races; read models rebuild equal to the live ones. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from eventsourcing.persistence import IntegrityError

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_platform
from cloudbay_domain.charger import Charger, ConnectorStatus
from cloudbay_domain.reports import StatusReport
from projections.catalog import all_projections
from projections.db import ReadModelDB
from projections.fleet import FleetQueries
from projections.follower import catch_up, reset
from services.errors import ConcurrentUpdate
from tests.cli_support import cloudbay
from tests.support import LiveServer, station, wait_until


def settings_for(store_url: str, tmp_path: Path) -> Settings:
    return Settings(store=StoreSettings(store_url), data_dir=tmp_path / "data")


def test_the_store_rejects_a_stale_save_and_the_service_retries(store_url: str, tmp_path: Path) -> None:
    node_a = build_platform(settings_for(store_url, tmp_path))
    node_b = build_platform(settings_for(store_url, tmp_path))
    try:
        node_a.chargers.whitelist("CB-600", "alpha")
        node_a.chargers.connected("CB-600", "s1", "a")
        stale: Charger = node_a.log.repository.get(Charger.create_id("CB-600"))
        node_b.chargers.record_status("CB-600", StatusReport(1, 1, ConnectorStatus.OCCUPIED, datetime.now(UTC)))
        stale.change_connector_status(StatusReport(1, 1, ConnectorStatus.FAULTED, datetime.now(UTC)))
        head = node_a.log.recorder.max_notification_id()
        with pytest.raises(IntegrityError):
            node_a.log.save(stale)
        assert node_a.log.recorder.max_notification_id() == head  # nothing half-written
        node_a.chargers.record_status("CB-600", StatusReport(1, 1, ConnectorStatus.AVAILABLE, datetime.now(UTC)))
        charger = node_b.chargers.get("CB-600")
        assert charger.version == 4 and charger.connectors == {"1/1": ConnectorStatus.AVAILABLE}
    finally:
        node_a.close()
        node_b.close()


def test_commands_racing_from_two_nodes_all_land_once(store_url: str, tmp_path: Path) -> None:
    nodes = [build_platform(settings_for(store_url, tmp_path)) for _ in range(2)]
    try:
        nodes[0].chargers.whitelist("CB-601", "alpha")
        nodes[0].chargers.connected("CB-601", "s1", "a")
        errors: list[BaseException] = []
        landed: list[int] = []

        def hammer(node_index: int, evse: int) -> None:
            for n in range(10):
                status = ConnectorStatus.OCCUPIED if n % 2 else ConnectorStatus.AVAILABLE
                try:
                    report = StatusReport(evse, 1, status, datetime.now(UTC))
                    nodes[node_index].chargers.record_status("CB-601", report)
                    landed.append(evse)
                except ConcurrentUpdate:
                    pass  # rejected whole: the caller is told, nothing was written
                except BaseException as e:  # surfaced below
                    errors.append(e)

        threads = [threading.Thread(target=hammer, args=(i % 2, i + 1)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        events = list(nodes[1].log.events.get(Charger.create_id("CB-601")))
        assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
        assert sum(isinstance(e, Charger.ConnectorStatusChanged) for e in events) == len(landed)
        assert len(landed) >= 30  # most land after a retry; the rest are rejected, never half-applied
    finally:
        for node in nodes:
            node.close()


def test_replay_rebuilds_read_models_equal_to_the_live_ones(store_url: str, tmp_path: Path) -> None:
    live = LiveServer(store_url, tmp_path / "data").start()
    try:
        for n in range(3):
            live.whitelist(f"CB-70{n}", "alpha")
        tariff = {"currency": "CHF", "price_per_kwh": "0.30", "time_zone": "Europe/Zurich"}
        live.platform.scheduling.set_tariff("CB-701", tariff, "owner@example.com")

        async def scenario() -> None:
            for n in range(3):
                async with station(live, f"CB-70{n}") as cp:
                    await cp.status(1, 1, "Faulted")
                    await cp.boot(firmware=f"1.{n}")
                    await cp.status(1, 1, "Available")
                    await cp.status(2, 1, "Occupied")

        asyncio.run(scenario())
        for n in range(3):  # the server records each disconnect as its socket closes
            wait_until(lambda n=n: type(live.platform.chargers.history(f"CB-70{n}")[-1]) is Charger.Disconnected)
        live.settle()
        assert live.runtime is not None
        before = live.runtime.fleet.dump()
        head = live.head()
    finally:
        live.stop()
    env = {**os.environ, "CLOUDBAY_DATABASE_URL": store_url, "CLOUDBAY_DATA_DIR": str(tmp_path / "data")}
    done = cloudbay(env, "replay", "--json", check=True)
    summary = json.loads(done.stdout)
    assert summary["head"] == head and summary["projections"]["fleet"]["position"] == head
    db = ReadModelDB(StoreSettings(store_url))
    try:
        after = FleetQueries(db).dump()
    finally:
        db.close()
    assert after == before
    assert len(after["chargers"]) == 3 and len(after["connectors"]) == 6
    assert [c["time_zone"] for c in after["chargers"]] == [None, "Europe/Zurich", None]


def test_rebuild_in_process_matches_incremental_batches(store_url: str, tmp_path: Path) -> None:
    """Applying the log in batches of 1 or of 500 gives the same read model."""
    settings = settings_for(store_url, tmp_path)
    platform = build_platform(settings)
    db = ReadModelDB(settings.store)
    try:
        for n in range(4):
            platform.chargers.whitelist(f"CB-80{n}", "beta")
            platform.chargers.connected(f"CB-80{n}", f"s{n}", "node")
            report = StatusReport(1, n + 1, ConnectorStatus.RESERVED, datetime.now(UTC))
            platform.chargers.record_status(f"CB-80{n}", report)
        dumps = []
        for batch in (1, 500):
            for projection in all_projections(platform.log):
                reset(db, projection)
                while catch_up(platform.log, db, projection, limit=batch):
                    pass
            dumps.append(FleetQueries(db).dump())
        assert dumps[0] == dumps[1] and len(dumps[0]["chargers"]) == 4
    finally:
        db.close()
        platform.close()


def test_a_failing_projection_stops_says_so_and_resumes_from_its_position(server: LiveServer) -> None:
    """An operator drops a read-model table by mistake: the fleet projection stops on the next event,
    /readyz says why, and once the table is back it resumes from its tracked position, losing nothing."""
    from projections.fleet import FleetProjection

    assert server.runtime is not None
    server.whitelist("CB-990")
    server.settle()
    with server.runtime.db.transaction() as tx:
        tx.execute("DROP TABLE rm_connectors")
    server.platform.chargers.connected("CB-990", "s1", "node")
    report = StatusReport(1, 1, ConnectorStatus.FAULTED, datetime.now(UTC))
    server.platform.chargers.record_status("CB-990", report)
    with server.http(role=None) as http:
        wait_until(lambda: http.get("/readyz").status_code == 503, timeout=10)
        failure = http.get("/readyz").json()["read_models"]["fleet"]["failure"]
        assert failure and "rm_connectors" in failure
        with server.runtime.db.transaction() as tx:
            FleetProjection().create_tables(tx)
        wait_until(lambda: http.get("/readyz").status_code == 200, timeout=10)
    server.settle()
    with server.http() as http:
        charger = http.get("/api/v1/chargers/CB-990").json()
    assert charger["presence"] == "online" and charger["connectors"][0]["status"] == "Faulted"
