"""Group commit: the saves of many chargers' commands written in one ``save()``.

Every save is a transaction with a commit (and, on PostgreSQL, a table lock that keeps notification ids in
order), so its cost is paid per save, not per event. Commands still load and decide in their own threads, in
parallel; only the write is handed to one writer thread, which takes every save queued while the previous
batch was being written and records their events together. If the batch loses an optimistic-concurrency
race, nothing of it is written and it is written again in halves until the saves that conflict stand alone:
only the callers that really conflict get the ``IntegrityError`` (and reload and retry), and nothing is ever
half-applied.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError

log = logging.getLogger("cloudbay.store")

MAX_BATCH = 500  # saves in one commit: with deferred saves (services/store.py) every charger's may be queued

#: Told of every batch written: how many saves it held, how long writing it took, whether all of them committed.
CommitObserver = Callable[[int, float, bool], None]


_settling = threading.Lock()  # guards every Committed's outcome and callbacks: each section is a few operations


class Committed:
    """The outcome of one queued save: committed, or the error (``IntegrityError``: a lost race). What
    ``concurrent.futures.Future`` offers that the platform uses, without its Condition and lock per save (a
    few per cent of the event loop's time under charging load): a waiting thread gets an Event, made only for it.
    Callbacks run in the thread that settles it (the writer), or at once when added to a settled one."""

    __slots__ = ("_callbacks", "_error", "_event", "_settled")

    def __init__(self) -> None:
        self._settled = False
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[Committed], None]] = []
        self._event: threading.Event | None = None

    def done(self) -> bool:
        return self._settled

    def exception(self, timeout: float | None = None) -> BaseException | None:
        """The error once settled (None: committed); waits until then (``TimeoutError`` after ``timeout``)."""
        self._wait(timeout)
        return self._error

    def result(self, timeout: float | None = None) -> None:
        """Return once committed; raise the error of a save that was not."""
        self._wait(timeout)
        if self._error is not None:
            raise self._error

    def add_done_callback(self, callback: Callable[[Committed], None]) -> None:
        with _settling:
            if not self._settled:
                self._callbacks.append(callback)
                return
        callback(self)

    def set_result(self, _: None) -> None:
        self._settle(None)

    def set_exception(self, error: BaseException) -> None:
        self._settle(error)

    def _settle(self, error: BaseException | None) -> None:
        with _settling:
            if self._settled:
                raise RuntimeError("a save is settled once")
            self._settled, self._error = True, error
            callbacks, self._callbacks = self._callbacks, []
            event = self._event
        if event is not None:
            event.set()
        for callback in callbacks:
            try:
                callback(self)
            except Exception:  # as concurrent.futures does: one callback's failure stops neither the others nor us
                log.exception("a commit callback failed")

    def _wait(self, timeout: float | None) -> None:
        with _settling:
            if self._settled:
                return
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        if not event.wait(timeout):
            raise TimeoutError(f"the save was not settled within {timeout} s")


class _Save:
    def __init__(self, events: list[Any]) -> None:
        self.events = events
        self.done = Committed()


class GroupCommitter:
    """One writer thread saving, in batches, what ``save`` is given."""

    def __init__(self, app: Application[UUID], max_batch: int = MAX_BATCH) -> None:
        self.app = app
        self.max_batch = max_batch
        self.observer: CommitObserver | None = None  # set by the wiring (metrics); called in the writer thread
        self._queue: queue.SimpleQueue[_Save | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def save(self, *aggregates: Any) -> None:
        """Save the aggregates' pending events in the next batch; raise ``IntegrityError`` on a conflict."""
        done = self.submit(*aggregates)
        if done is not None:
            done.result()

    def submit(self, *aggregates: Any) -> Committed | None:
        """Queue the aggregates' pending events for the next batch without waiting for it: the future is done
        when they are committed (or holds the ``IntegrityError`` of a conflict). None: nothing to save, or saved
        already (called from the writer itself)."""
        events = [event for aggregate in aggregates for event in aggregate.collect_events()]
        if not events:
            return None
        if threading.current_thread() is self._thread:
            self.app.save(*events)
            return None
        self._ensure_started()
        item = _Save(events)
        self._queue.put(item)
        return item.done

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
            started = time.perf_counter()
            ok = self._write(batch)
            self._observe(len(batch), time.perf_counter() - started, ok)

    def _observe(self, size: int, seconds: float, ok: bool) -> None:
        if self.observer is None:
            return
        try:
            self.observer(size, seconds, ok)
        except Exception:  # an observer's failure must never stop the writer
            log.exception("group commit observer failed")

    def _write(self, batch: list[_Save]) -> bool:
        """Write a batch; True if every save in it was committed.

        Two saves of the same aggregate version in one batch (two commands decided on the same copy) cannot
        both commit: the later ones are held out of it, and when the first committed they fail at once, without
        a round trip. A batch that still loses a race is halved until the saves that conflict with the store
        stand alone, so one conflict costs a few commits, not one per save of the batch."""
        first: list[_Save] = []
        later: list[_Save] = []
        versions: set[tuple[UUID, int]] = set()
        for item in batch:
            keys = {(e.originator_id, e.originator_version) for e in item.events}
            if keys & versions:
                later.append(item)
            else:
                first.append(item)
                versions |= keys
        ok = self._write_halving(first)
        if not later:
            return ok
        committed = {(e.originator_id, e.originator_version) for item in first if _committed(item) for e in item.events}
        again: list[_Save] = []
        for item in later:
            if any((e.originator_id, e.originator_version) in committed for e in item.events):
                item.done.set_exception(IntegrityError("an aggregate version saved by another call of the batch"))
            else:
                again.append(item)
        return self._write(again) and ok if again else False

    def _write_halving(self, batch: list[_Save]) -> bool:
        if not batch:
            return True
        try:
            self.app.save(*(event for item in batch for event in item.events))
        except IntegrityError as e:  # IntegrityError: that caller reloads and retries
            if len(batch) == 1:
                batch[0].done.set_exception(e)
                return False
        except BaseException as e:
            for item in batch:
                item.done.set_exception(e)
            return False
        else:
            for item in batch:
                item.done.set_result(None)
            return True
        half = len(batch) // 2
        return self._write_halving(batch[:half]) & self._write_halving(batch[half:])


def _committed(item: _Save) -> bool:
    return item.done.done() and item.done.exception() is None
