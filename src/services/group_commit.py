"""Group commit: commands from many chargers run one after another and are saved in one ``save()``.

Every save is a transaction with a commit (and, on PostgreSQL, a table lock that keeps notification ids in
order), so its cost is paid per save, not per event. One writer thread takes the commands queued while the
previous batch was being written, runs each against a shared unit of work (a command sees the changes of the
commands before it), and saves every changed aggregate at once. If any command of a batch refuses, or the
batch loses an optimistic-concurrency race, nothing of the batch is written and each command runs again
alone, with its own retries: a refusal reaches only its caller, and nothing is ever half-applied.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Generic, TypeVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

from services.errors import ConcurrentUpdate

log = logging.getLogger("cloudbay.store")

R = TypeVar("R")
MAX_BATCH = 100
MAX_CONFLICT_RETRIES = 8


class UnitOfWork:
    """The aggregates one batch (or one command) has loaded or created, in the state the commands left them."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app
        self.aggregates: dict[UUID, Any] = {}

    def get(self, aggregate_id: UUID) -> Any:
        """The aggregate as earlier commands of this unit left it (raises ``AggregateNotFoundError``)."""
        if aggregate_id not in self.aggregates:
            self.aggregates[aggregate_id] = self.app.repository.get(aggregate_id)
        return self.aggregates[aggregate_id]

    def add(self, aggregate: Any) -> None:
        self.aggregates[aggregate.id] = aggregate

    def changed(self) -> list[Any]:
        return [a for a in self.aggregates.values() if a.pending_events]


Command = Callable[[UnitOfWork], Any]


class _Item(Generic[R]):
    def __init__(self, command: Callable[[UnitOfWork], R]) -> None:
        self.command = command
        self.future: Future[R] = Future()


class GroupCommitter:
    """Runs commands in one writer thread and saves them in batches through ``app.save``."""

    def __init__(self, app: Application[UUID], max_batch: int = MAX_BATCH) -> None:
        self.app = app
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Item[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def execute(self, command: Callable[[UnitOfWork], R]) -> R:
        """Run ``command`` in the next batch and return its result once saved (or raise its error)."""
        if threading.current_thread() is self._thread:  # a command issuing a command: run it right here
            item: _Item[R] = _Item(command)
            self._alone(item)
            return item.future.result()
        self._ensure_started()
        item = _Item(command)
        self._queue.put(item)
        return item.future.result()

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout=10)

    def _ensure_started(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(more)
            try:
                self._commit(batch)
            except BaseException as e:  # never leave a caller waiting
                log.exception("group commit failed")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(e)

    def _commit(self, batch: list[_Item[Any]]) -> None:
        if len(batch) == 1:
            return self._alone(batch[0])
        unit = UnitOfWork(self.app)
        try:
            results = [item.command(unit) for item in batch]
            changed = unit.changed()
            if changed:
                self.app.save(*changed)
        except Exception:  # a refusal or a lost race: each command again, alone
            for item in batch:
                self._alone(item)
            return
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)

    def _alone(self, item: _Item[Any]) -> None:
        for attempt in range(MAX_CONFLICT_RETRIES):
            if attempt:
                time.sleep(random.uniform(0, 0.002 * attempt))  # jitter: let the winner's writes settle
            unit = UnitOfWork(self.app)
            try:
                result = item.command(unit)
            except Exception as e:
                item.future.set_exception(e)
                return
            changed = unit.changed()
            try:
                if changed:
                    self.app.save(*changed)
            except IntegrityError:
                continue
            except Exception as e:
                item.future.set_exception(e)
                return
            item.future.set_result(result)
            return
        item.future.set_exception(ConcurrentUpdate("the aggregate kept changing; try again"))
