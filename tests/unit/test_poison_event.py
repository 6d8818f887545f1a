"""A projection that cannot apply one event: named (position, topic), then skipped and recorded (item 2)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application

from adapters.settings import StoreSettings
from cloudbay_domain.charger import Charger
from projections.db import ReadModelDB, Tx
from projections.follower import catch_up, prepare, tracked_position
from projections.poison import POISON_AFTER, EventFailed, PoisonWatch, skipped


class Picky:
    """Applies every event but the whitelisting of the charger named ``BAD``."""

    name = "picky"

    def __init__(self) -> None:
        self.applied: list[int] = []

    def create_tables(self, tx: Tx) -> None: ...
    def drop_tables(self, tx: Tx) -> None: ...

    def apply(self, event: Any, tx: Tx, position: int) -> None:
        if getattr(event, "station_id", None) == "BAD":
            raise ValueError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
        self.applied.append(position)


def test_a_poison_event_is_named_then_skipped_and_the_rest_applied() -> None:
    app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    db = ReadModelDB(StoreSettings("memory://"))
    projection = Picky()
    prepare(db, projection)
    app.save(Charger.whitelist("GOOD-1", "a"))
    app.save(Charger.whitelist("BAD", "a"))
    app.save(Charger.whitelist("GOOD-2", "a"))
    watch, skip = PoisonWatch(), None
    for _ in range(POISON_AFTER):
        with pytest.raises(EventFailed) as failed:
            catch_up(app, db, projection)
        assert failed.value.position == 2 and failed.value.topic.endswith("Charger.Whitelisted")
        skip = watch.failed(failed.value)
    assert skip is not None and skip[0] == 2
    assert catch_up(app, db, projection, skip=skip) > 0
    with db.transaction(write=False) as tx:
        assert tracked_position(tx, "picky") == 3
        assert [row["position"] for row in skipped(tx, "picky")] == [2]
    assert projection.applied[-1] == 3


def test_store_errors_never_make_an_event_poison() -> None:
    class OperationalError(Exception):
        pass

    watch = PoisonWatch(after=1)
    assert watch.failed(EventFailed(7, "t", OperationalError("locked"))) is None
    assert watch.failed(RuntimeError("pool")) is None
    assert watch.failed(EventFailed(7, "t", ValueError("nul"))) == (7, "event at position 7 (t): ValueError: nul")
