"""Events written by the platform at commit dbd94a6 still load and replay to the same read models.

The fixture (``tests/fixtures/event_log_v1``) holds stored events exactly as that platform wrote them, and the
read models they replayed to. Never regenerate it: if this fails, the code no longer reads old events.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import StoredEvent

# --- The platform under test. Every CloudBay import of this module is in this block (module paths as of
# --- dbd94a6): when modules move, retarget these lines and nothing else.
from adapters.settings import Settings, StoreSettings
from adapters.wiring import all_projections, build_log
from projections.db import ReadModelDB
from projections.energy import EnergyQueries
from projections.fleet import FleetQueries
from projections.follower import catch_up, reset
from projections.id_tokens import IdTokenQueries
from projections.transactions import TransactionQueries
from services.store import EventLog

FIXTURE = Path(__file__).resolve().parent.parent / "fixtures" / "event_log_v1"


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURE / "manifest.json").read_text(encoding="utf-8"))
    return data


def fixture_rows() -> list[dict[str, Any]]:
    lines = (FIXTURE / "events.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def state_bytes(state: str, encoding: str) -> bytes:
    if encoding == "json":
        return state.encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(state)
    raise AssertionError(f"unknown state encoding {encoding!r} in the manifest")


def stored_events() -> list[StoredEvent]:
    """The fixture's events, as the store holds them, in their original notification order."""
    encoding = manifest()["state_encoding"]
    return [
        StoredEvent(
            originator_id=UUID(row["originator_id"]),
            originator_version=int(row["originator_version"]),
            topic=row["topic"],
            state=state_bytes(row["state"], encoding),
        )
        for row in fixture_rows()
    ]


def expected_versions() -> dict[UUID, int]:
    versions: dict[UUID, int] = {}
    for row in fixture_rows():
        aggregate_id = UUID(row["originator_id"])
        versions[aggregate_id] = max(versions.get(aggregate_id, 0), int(row["originator_version"]))
    return versions


def aggregate_class_names() -> dict[UUID, str]:
    """Each aggregate's class name, from the topic of its first event (``module:Class.Event``)."""
    return {
        UUID(row["originator_id"]): row["topic"].partition(":")[2].rpartition(".")[0]
        for row in fixture_rows()
        if int(row["originator_version"]) == 1
    }


def rebuild_and_dump(app: EventLog, db: ReadModelDB) -> dict[str, Any]:
    """Drop every read model, rebuild it from position 0 up to the head, and dump it."""
    for projection in all_projections(app):
        reset(db, projection)
        while catch_up(app, db, projection):
            pass
    dumps: dict[str, Any] = {
        "fleet": FleetQueries(db).dump(),
        "transactions": TransactionQueries(db).dump(),
        "energy": EnergyQueries(db).dump(),
        "id_tokens": IdTokenQueries(db).dump(),
    }
    normalised: dict[str, Any] = json.loads(json.dumps(dumps))  # the shape the fixture was written in
    for row in normalised["fleet"]["chargers"]:  # columns added since: a charger of the fixture was whitelisted by hand
        added = {name: row.pop(name) for name in ("state", "mac_address", "batch_id", "tariff_id", "time_zone")}
        assert added == {"state": "whitelisted", **dict.fromkeys(("mac_address", "batch_id", "tariff_id", "time_zone"))}
    energy = normalised["energy"]  # costs added since: the fixture's chargers have no tariff, so nothing is priced
    assert energy.pop("energy_cost_daily") == [] and energy.pop("energy_tariffs") == []
    for row in energy["energy_tx"]:
        priced = {
            name: row.pop(name) for name in sorted(set(row) - {"day", "energy_mwh", "station_id", "tx_id", "user_key"})
        }
        assert not any(priced.values()), priced
    return normalised


@pytest.fixture
def platform(store_url: str, tmp_path: Path) -> Iterator[tuple[EventLog, ReadModelDB]]:
    """The application on a fresh store holding the fixture's events, and its (empty) read-model storage."""
    settings = Settings(store=StoreSettings(store_url), data_dir=tmp_path / "data")
    app = build_log(settings)
    db = ReadModelDB(settings.store)
    try:
        assert (app.recorder.max_notification_id() or 0) == 0, "the store must start empty"
        events = stored_events()
        app.recorder.insert_events(events)
        notifications = app.recorder.select_notifications(start=1, limit=len(events) + 1)
        assert [(n.originator_id, n.originator_version, n.topic) for n in notifications] == [
            (e.originator_id, e.originator_version, e.topic) for e in events
        ], "the events must be stored as they were, in their order"
        yield app, db
    finally:
        db.close()
        app.close()


def test_the_fixture_is_intact() -> None:
    rows = fixture_rows()
    facts = manifest()
    assert len(rows) == facts["events"]
    assert dict(Counter(row["topic"] for row in rows)) == facts["events_per_topic"]
    assert len(expected_versions()) == facts["aggregates"]
    per_aggregate: dict[str, list[int]] = {}
    for row in rows:
        per_aggregate.setdefault(row["originator_id"], []).append(int(row["originator_version"]))
    for aggregate_id, versions in per_aggregate.items():
        assert versions == list(range(1, len(versions) + 1)), f"aggregate {aggregate_id}: versions {versions}"


def test_every_aggregate_loads_at_its_version(platform: tuple[EventLog, ReadModelDB]) -> None:
    app, _ = platform
    class_names = aggregate_class_names()
    for aggregate_id, version in expected_versions().items():
        aggregate: Aggregate = app.repository.get(aggregate_id)
        assert aggregate.id == aggregate_id
        assert aggregate.version == version, f"{class_names[aggregate_id]} {aggregate_id}"
        assert type(aggregate).__qualname__ == class_names[aggregate_id]


def test_every_read_model_rebuilds_to_the_recorded_rows(platform: tuple[EventLog, ReadModelDB]) -> None:
    app, db = platform
    expected: dict[str, Any] = json.loads((FIXTURE / "read_models.json").read_text(encoding="utf-8"))
    first = rebuild_and_dump(app, db)
    assert sorted(first) == sorted(expected)
    for name in expected:
        assert first[name] == expected[name], f"read model {name} differs from the recorded one"
    assert rebuild_and_dump(app, db) == first, "a second rebuild (cloudbay replay) must give the same rows"
