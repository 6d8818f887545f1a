"""The projector's read models kept together (``projections.group``): one read of the log per window for all
of them, positions per projection, and a failure handed to one follower per projection, then taken back."""

from __future__ import annotations

import time
from functools import singledispatchmethod
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application

from adapters.settings import StoreSettings
from cloudbay_domain.charger import Charger
from cloudbay_domain.transaction import Transaction
from projections import follower, group
from projections.db import ReadModelDB, Tx
from projections.follower import prepare, tracked_position
from projections.group import FollowerGroup, catch_up_group
from projections.poison import skipped


class Everything:
    """Applies every event; refuses the whitelisting of the charger named ``BAD`` when ``picky``."""

    def __init__(self, name: str, picky: bool = False) -> None:
        self.name, self.picky, self.applied = name, picky, list[int]()

    def create_tables(self, tx: Tx) -> None: ...
    def drop_tables(self, tx: Tx) -> None: ...

    def apply(self, event: Any, tx: Tx, position: int) -> None:
        if self.picky and getattr(event, "station_id", None) == "BAD":
            raise ValueError("cannot apply this one")
        self.applied.append(position)


class OnlyTransactions:
    """Reads nothing but Transaction.Opened (the store filters the rest out)."""

    name = "only-transactions"

    def __init__(self) -> None:
        self.applied: list[int] = []

    def create_tables(self, tx: Tx) -> None: ...
    def drop_tables(self, tx: Tx) -> None: ...

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None: ...

    @apply.register
    def _(self, event: Transaction.Opened, tx: Tx, position: int) -> None:
        self.applied.append(position)


def store() -> tuple[Application[UUID], ReadModelDB]:
    return Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"}), ReadModelDB(StoreSettings("memory://"))


def positions(db: ReadModelDB, *names: str) -> list[int]:
    with db.transaction(write=False) as tx:
        return [tracked_position(tx, name) for name in names]


def test_one_read_per_window_serves_every_projection_each_at_its_own_position() -> None:
    app, db = store()
    a, b, idle = Everything("a"), Everything("b"), OnlyTransactions()
    for projection in (a, b, idle):
        prepare(db, projection)
    for n in range(7):
        app.save(Charger.whitelist(f"CB-{n}", "home"))
    reads: list[int] = []
    select = app.recorder.select_notifications

    def counted(*args: Any, **kwargs: Any) -> Any:
        reads.append(1)
        return select(*args, **kwargs)

    app.recorder.select_notifications = counted  # type: ignore[method-assign]
    with db.transaction() as tx:  # ``b`` was ahead already (a follower of another node applied 1..3)
        follower.track(tx, "b", 3)
    moved = [catch_up_group(app, db, [a, b, idle], limit=4) for _ in range(3)]
    assert moved == [4, 3, 0]
    assert len(reads) == 2  # one query per window for all three
    assert a.applied == list(range(1, 8)) and b.applied == [4, 5, 6, 7]  # nothing applied twice
    assert idle.applied == [] and positions(db, "a", "b", "only-transactions") == [7, 7, 7]


def test_a_failure_is_handed_to_followers_that_skip_the_poison_then_the_group_takes_over(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(follower, "RETRY_SECONDS", 0.05)
    monkeypatch.setattr(group, "HEALTHY_FOR_SECONDS", 0.5)
    app, db = store()
    good, picky = Everything("good"), Everything("picky", picky=True)
    app.save(Charger.whitelist("GOOD-1", "a"))
    app.save(Charger.whitelist("BAD", "a"))
    app.save(Charger.whitelist("GOOD-2", "a"))
    keeper = FollowerGroup(app, db, [good, picky], poll_interval=0.02)
    keeper.start()
    try:
        wait_until(lambda: positions(db, "good", "picky") == [3, 3], "both past the poison event")
        with db.transaction(write=False) as tx:
            assert [row["position"] for row in skipped(tx, "picky")] == [2]
        assert good.applied == [1, 2, 3] and set(picky.applied) == {1, 3}  # (a rolled-back try appends too)
        wait_until(lambda: not keeper._followers, "the group back in charge")
        app.save(Charger.whitelist("GOOD-3", "a"))
        wait_until(lambda: positions(db, "good", "picky") == [4, 4], "the next event applied by the group")
        assert good.applied == [1, 2, 3, 4] and picky.applied[-1] == 4
    finally:
        keeper.stop()


def wait_until(condition: Any, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached in {timeout:g} s: {what}")
        time.sleep(0.02)
