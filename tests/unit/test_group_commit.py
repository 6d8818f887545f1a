"""Group commit: concurrent commands share saves; a refusal reaches only its caller; nothing half-applied."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from cloudbay_domain.charger import Charger, ConnectorStatus
from services.platform import ChargerNotWhitelisted, CloudBay

AT = datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.fixture
def app() -> Any:
    app = CloudBay(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for n in range(3):
        app.whitelist_charger(f"CB-{n}", "home")
        app.charger_connected(f"CB-{n}", "s1", "node")
    yield app
    app.close()


def test_concurrent_commands_are_saved_together_and_each_gets_its_answer(app: Any) -> None:
    outcomes: dict[tuple[int, int], str] = {}
    start = threading.Barrier(31)

    def command(station: int, evse: int) -> None:
        start.wait()
        try:
            target = f"CB-{station}" if station < 3 else "NOT-WHITELISTED"
            app.record_connector_status(target, evse, 1, ConnectorStatus.OCCUPIED, AT)
            outcomes[(station, evse)] = "ok"
        except ChargerNotWhitelisted:
            outcomes[(station, evse)] = "refused"

    threads = [threading.Thread(target=command, args=(n % 4, n)) for n in range(30)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    refused = {k for k, v in outcomes.items() if v == "refused"}
    assert refused == {(3, n) for n in range(30) if n % 4 == 3}  # only the callers naming an unknown charger
    for station in range(3):
        charger: Charger = app.get_charger(f"CB-{station}")
        expected = {f"{n}/1" for n in range(30) if n % 4 == station}
        assert set(charger.connectors) == expected  # every accepted command landed, once
        versions = [e.originator_version for e in app.charger_history(f"CB-{station}")]
        assert versions == list(range(1, len(versions) + 1))
    assert sum(1 for n in range(30) if n % 4 < 3) == sum(len(app.get_charger(f"CB-{s}").connectors) for s in range(3))


def test_of_two_stale_copies_saved_at_once_one_lands_and_the_other_conflicts(app: Any) -> None:
    copies = [app.repository.get(Charger.create_id("CB-0")) for _ in range(2)]
    for n, copy in enumerate(copies):
        copy.change_connector_status(1, 1, [ConnectorStatus.FAULTED, ConnectorStatus.RESERVED][n], AT)
    head = app.recorder.max_notification_id()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def save(copy: Any) -> None:
        start.wait()
        try:
            app.committer.save(copy)
            outcomes.append("saved")
        except IntegrityError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert app.recorder.max_notification_id() == head + 1  # the loser wrote nothing
