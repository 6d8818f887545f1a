"""Group commit: concurrent commands share saves; a refusal reaches only its caller; nothing half-applied."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from cloudbay_domain.charger import Charger, ConnectorStatus
from cloudbay_domain.reports import StatusReport
from services.chargers import ChargerNotWhitelisted
from services.group_commit import Committed, _Save
from services.platform import Platform
from services.store import EventLog

AT = datetime(2026, 11, 25, 10, tzinfo=UTC)


@pytest.fixture
def app() -> Iterator[Platform]:
    app = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    for n in range(3):
        app.chargers.whitelist(f"CB-{n}", "home")
        app.chargers.connected(f"CB-{n}", "s1", "node")
    yield app
    app.close()


def test_concurrent_commands_are_saved_together_and_each_gets_its_answer(app: Platform) -> None:
    outcomes: dict[tuple[int, int], str] = {}
    start = threading.Barrier(31)

    def command(station: int, evse: int) -> None:
        start.wait()
        try:
            target = f"CB-{station}" if station < 3 else "NOT-WHITELISTED"
            app.chargers.record_status(target, StatusReport(evse, 1, ConnectorStatus.OCCUPIED, AT))
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
        charger: Charger = app.chargers.get(f"CB-{station}")
        expected = {f"{n}/1" for n in range(30) if n % 4 == station}
        assert set(charger.connectors) == expected  # every accepted command landed, once
        versions = [e.originator_version for e in app.chargers.history(f"CB-{station}")]
        assert versions == list(range(1, len(versions) + 1))
    assert sum(1 for n in range(30) if n % 4 < 3) == sum(len(app.chargers.get(f"CB-{s}").connectors) for s in range(3))


def test_of_two_stale_copies_saved_at_once_one_lands_and_the_other_conflicts(app: Platform) -> None:
    copies: list[Charger] = [app.log.repository.get(Charger.create_id("CB-0")) for _ in range(2)]
    for n, copy in enumerate(copies):
        copy.change_connector_status(StatusReport(1, 1, [ConnectorStatus.FAULTED, ConnectorStatus.RESERVED][n], AT))
    head = app.log.recorder.max_notification_id()
    assert head is not None
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def save(copy: Charger) -> None:
        start.wait()
        try:
            app.log.committer.save(copy)
            outcomes.append("saved")
        except IntegrityError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=save, args=(c,)) for c in copies]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "saved"]
    assert app.log.recorder.max_notification_id() == head + 1  # the loser wrote nothing


class CountingLog:
    """The writer's target: counts the saves (each one commit) and passes them on."""

    def __init__(self, app: Platform) -> None:
        self.app, self.commits = app, 0

    def save(self, *events: Any) -> Any:
        self.commits += 1
        return self.app.log.save(*events)


def test_one_conflict_in_a_big_batch_costs_a_few_commits_and_a_twin_none(app: Platform) -> None:
    """A batch of 64 saves: one made on a stale copy (another writer saved first), one a twin of another save
    of the batch (the same aggregate version). Each fails alone; the other 62 land in a handful of commits."""
    for n in range(3, 64):
        app.chargers.whitelist(f"CB-{n}", "home")
        app.chargers.connected(f"CB-{n}", "s1", "node")
    stale: Charger = app.log.repository.get(Charger.create_id("CB-0"))
    app.chargers.record_status("CB-0", StatusReport(9, 1, ConnectorStatus.FAULTED, AT))  # CB-0 moved on
    twin: Charger = app.log.repository.get(Charger.create_id("CB-1"))
    copies = [stale] + [app.log.repository.get(Charger.create_id(f"CB-{n}")) for n in range(1, 64)] + [twin]
    for n, copy in enumerate(copies):
        copy.change_connector_status(StatusReport(n + 1, 1, ConnectorStatus.OCCUPIED, AT))
    committer = app.log.committer
    counting = CountingLog(app)
    committer.app = counting  # type: ignore[assignment]
    batch = [_Save(list(copy.collect_events())) for copy in copies]
    assert not committer._write(batch)  # one batch, as the writer takes it from its queue
    failed = [n for n, item in enumerate(batch) if item.done.exception(timeout=0) is not None]
    assert failed == [0, 64]
    assert counting.commits <= 16  # halving: about two per level, not one per save of the batch
    assert "65/1" not in app.chargers.get("CB-1").connectors and "2/1" in app.chargers.get("CB-1").connectors
    assert all(f"{n + 1}/1" in app.chargers.get(f"CB-{n}").connectors for n in range(1, 64))


def test_a_commit_outcome_wakes_its_waiter_and_runs_each_callback_once() -> None:
    done, seen = Committed(), list[str]()
    done.add_done_callback(lambda d: seen.append(f"early {d.exception()}"))
    with pytest.raises(TimeoutError):
        done.result(timeout=0.01)
    waiter = threading.Thread(target=lambda: seen.append(f"waited {done.exception()}"))
    waiter.start()
    done.set_exception(IntegrityError("lost a race"))
    waiter.join(5)
    done.add_done_callback(lambda d: seen.append("late"))  # added once settled: runs at once
    assert sorted(seen) == ["early lost a race", "late", "waited lost a race"]
    with pytest.raises(IntegrityError):
        done.result()
    with pytest.raises(RuntimeError):
        done.set_result(None)


def test_saving_events_stores_and_announces_them_as_the_librarys_save_does() -> None:
    """``EventLog.save`` of events takes a shorter way than the library's ``save``: to the same end."""
    ours = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).log
    library = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}).log
    heard: list[str] = []
    ours.add_listener(lambda: heard.append("saved"))
    library_save = super(EventLog, library).save
    for log, save in ((ours, lambda events: ours.save(*events)), (library, lambda events: library_save(*events))):
        chargers = [Charger.whitelist("CB-S", "home"), Charger.whitelist("CB-U", "home")]
        events = [event for charger in chargers for event in charger.collect_events()]
        recordings = save(events)
        assert [r.notification.id for r in recordings] == [1, 2]
        assert [r.domain_event for r in recordings] == events
        assert log.repository.get(chargers[1].id).version == 1
        with pytest.raises(IntegrityError):  # a version saved already: nothing of the call is stored
            save([*Charger.whitelist("CB-T", "home").collect_events(), events[1]])
        assert log.recorder.max_notification_id() == 2
    assert heard == ["saved"]
    ours.close()
    library.close()
