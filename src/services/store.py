"""The event log every aggregate of the platform lives in, and the one way to change an aggregate.

``EventLog.change`` is the load → command → save loop with the one retry policy of the platform: a save that
loses an optimistic-concurrency race is re-run from a fresh load, with a little jitter, up to
``MAX_CONFLICT_RETRIES`` times, then refused whole (``ConcurrentUpdate``). Nothing is ever half-applied.
"""

from __future__ import annotations

import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import Aggregate
from eventsourcing.persistence import IntegrityError, Recording

from services.errors import ConcurrentUpdate, ServiceError
from services.group_commit import GroupCommitter

MAX_CONFLICT_RETRIES = 8
MAX_KEPT = 20_000  # aggregates kept by ``take``/``keep`` (least recently saved forgotten first)
A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class EventLog(Application[UUID]):
    """The platform's one event log (SQLite embedded, PostgreSQL in production, memory in tests)."""

    name = "CloudBay"  # names the PostgreSQL table (cloudbay_events): never change it

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.committer = GroupCommitter(self)
        self._listeners: list[Callable[[], None]] = []
        # aggregates of the kinds in ``kept_kinds`` as this process last saved them (see ``take``)
        self.kept_kinds: tuple[type[Aggregate], ...] = ()
        self._kept: OrderedDict[UUID, Any] = OrderedDict()
        self._kept_lock = threading.Lock()
        self._listeners_lock = threading.Lock()

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every save (in-process followers poll less)."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            for listener in list(self._listeners):
                listener()

    def load(self, aggregate_id: UUID, missing: ServiceError) -> Any:
        """The aggregate, or ``missing`` raised when there is none."""
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None

    def load_or_none(self, aggregate_id: UUID) -> Any:
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def take(self, aggregate_id: UUID) -> Any:
        """The aggregate (or None), without a store read when this process saved it last: that copy is handed
        out and forgotten, so no two threads ever hold it; a save puts it back. A copy that another writer has
        overtaken meanwhile fails its save (the optimistic-concurrency check), and the retry reads the store.
        For the aggregates one writer changes almost always (a charger's transactions, by its session)."""
        with self._kept_lock:
            kept = self._kept.pop(aggregate_id, None)
        return kept if kept is not None else self.load_or_none(aggregate_id)

    def keep(self, *aggregates: Any) -> None:
        """Put back what ``take`` gave out and was saved (or left unchanged)."""
        with self._kept_lock:
            for aggregate in aggregates:
                if isinstance(aggregate, self.kept_kinds) and not aggregate.pending_events:
                    self._kept[aggregate.id] = aggregate
                    self._kept.move_to_end(aggregate.id)
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)

    def create(self, aggregate: A, exists: ServiceError) -> A:
        """Save a new aggregate; ``exists`` when its (natural-key) id is taken."""
        try:
            self.save(aggregate)
        except IntegrityError:
            raise exists from None
        return aggregate

    def retrying(self, attempt: Callable[[], tuple[R, list[Any]]], what: str) -> R:
        """Run ``attempt`` (load, decide; it returns its result and the aggregates to save) and save them in the
        next group commit; on a lost race, run it again from a fresh load."""
        for n in range(MAX_CONFLICT_RETRIES):
            if n:
                time.sleep(random.uniform(0, 0.002 * n))  # jitter: let the winner's writes settle
            result, changed = attempt()
            try:
                self.committer.save(*changed)
            except IntegrityError:
                continue
            self.keep(*changed)
            return result
        raise ConcurrentUpdate(f"{what} kept changing; try again")

    def change(self, aggregate_id: UUID, command: Callable[[Any], R], missing: ServiceError) -> R:
        """Run ``command`` on a fresh copy of the aggregate and save what it decided."""

        def attempt() -> tuple[R, list[Any]]:
            aggregate = self.take(aggregate_id)
            if aggregate is None:
                raise missing
            return command(aggregate), [aggregate]

        return self.retrying(attempt, f"aggregate {aggregate_id}")

    def close(self) -> None:
        self.committer.stop()
        super().close()
