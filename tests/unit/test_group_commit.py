"""Group commit: concurrent commands share saves; a refusal reaches only its caller; nothing half-applied."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest

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


def test_a_command_inside_a_command_runs_in_place(app: Any) -> None:
    def outer(unit: Any) -> int:
        inner: int = app.committer.execute(lambda u: 7)
        return inner + 1

    assert app.committer.execute(outer) == 8
