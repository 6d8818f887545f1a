"""The PostgreSQL recorder's own insert (``adapters/pg_events.py``): the library's table and semantics, a
cheaper call. A batch is written whole or not at all, its notification ids come back in order, and a store
made by the library's own recorder is taken over as it is. Its binary read selects what the library's does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder

from adapters.pg_events import TypedArraysRecorder
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.charger import Charger
from services.store import EventLog
from tests.support import fresh_store


@pytest.fixture
def pg_url(tmp_path: Path) -> Iterator[str]:
    with fresh_store("postgres", tmp_path) as url:
        yield url


def event(version: int = 1, originator: object = None) -> StoredEvent:
    return StoredEvent(originator or uuid4(), version, "tests:Event", b'{"n": 1}')  # type: ignore[arg-type]


def test_a_batch_is_written_whole_with_its_ids_in_order_or_not_at_all(pg_url: str, tmp_path: Path) -> None:
    log = build_log(Settings(store=StoreSettings(pg_url), data_dir=tmp_path))
    try:
        recorder = log.recorder
        assert isinstance(recorder, TypedArraysRecorder) and recorder.typed
        first = event()
        ids = recorder.insert_events([first, event(), event(2, first.originator_id)])
        assert ids == sorted(ids) and len(ids) == 3
        head = recorder.max_notification_id()
        with pytest.raises(IntegrityError):  # the last one repeats a version: none of the batch is written
            recorder.insert_events([event(), event(), event(2, first.originator_id)])
        assert recorder.max_notification_id() == head
        assert [n.originator_version for n in recorder.select_notifications(start=1, limit=10)] == [1, 1, 2]
        assert recorder.insert_events([]) == []
    finally:
        log.close()


def test_a_store_the_library_made_is_taken_over_as_it_is(pg_url: str, tmp_path: Path) -> None:
    env = Settings(store=StoreSettings(pg_url), data_dir=tmp_path).store.event_store_env()
    del env["APPLICATION_RECORDER_TOPIC"]  # as stores were made before this recorder
    old = EventLog(env=env)
    charger = Charger.whitelist("OLD-1", "home")
    old.save(charger)
    old.close()
    log = build_log(Settings(store=StoreSettings(pg_url), data_dir=tmp_path))
    try:
        assert isinstance(log.recorder, TypedArraysRecorder)
        loaded: Charger = log.repository.get(charger.id)
        loaded.require_rfid(False)
        log.save(loaded)
        assert [n.originator_version for n in log.recorder.select_notifications(start=1, limit=10)] == [1, 2]
    finally:
        log.close()


def test_the_binary_read_selects_exactly_what_the_librarys_selects(pg_url: str, tmp_path: Path) -> None:
    log = build_log(Settings(store=StoreSettings(pg_url), data_dir=tmp_path))
    try:
        recorder = log.recorder
        assert isinstance(recorder, TypedArraysRecorder)
        first = uuid4()
        stored = [
            StoredEvent(first, 1, "tests:A", b'{"n": 1}'),
            StoredEvent(uuid4(), 1, "tests:B", bytes(range(256))),  # any bytes, a NUL and non-UTF-8 included
            StoredEvent(first, 2, "tests:A", b""),
            StoredEvent(uuid4(), 1, "tests:C", b"x" * 100_000),
        ]
        recorder.insert_events(stored)
        library = PostgresApplicationRecorder.select_notifications
        for start in (None, 1, 2, 5):
            for stop in (None, 1, 3, 4):
                for topics in ((), ("tests:A",), ("tests:B", "tests:C"), ("tests:none",)):
                    for limit in (1, 2, 10):
                        for inclusive in (True, False):
                            args = {"limit": limit, "stop": stop, "topics": topics, "inclusive_of_start": inclusive}
                            ours = recorder.select_notifications(start, **args)
                            assert ours == library(recorder, start, **args), (start, args)
                            assert all(type(n.state) is bytes and type(n.id) is int for n in ours)
    finally:
        log.close()
