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

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEvent
from eventsourcing.persistence import IntegrityError, Recording

from services.errors import ConcurrentUpdate, ServiceError
from services.group_commit import Committed, GroupCommitter

MAX_CONFLICT_RETRIES = 8
MAX_KEPT = 20_000  # aggregates kept by ``take``/``keep`` (least recently saved forgotten first)
A = TypeVar("A", bound=Aggregate)
R = TypeVar("R")


class RetryWhole(Exception):
    """The deferred save of a call lost an optimistic-concurrency race before anything else of the call was
    saved: nothing of it is in the store, and the whole call is run again from fresh loads."""


class NeedsStore(BaseException):  # noqa: N818 - not an error: a signal, past any ``except Exception``
    """A call run ``inline`` wanted to read the store: it must run in a store thread instead. Raised before the
    call saved anything (it is for calls whose one save comes after their reads)."""


class Unconfirmed(NeedsStore):  # noqa: N818 - a signal, like NeedsStore
    """A call decided something on a kept copy of a ``checked_kinds`` aggregate that its save will not check
    (the copy was only read, or the command refused): another process may have changed that aggregate, so the
    call is made again from what the store holds. On the event loop it is a ``NeedsStore``."""


class Deferred:
    """A call whose first save is not waited for in its thread (``EventLog.deferring``): the save is queued for
    the next group commit and the thread goes on, so a store thread is not held while a batch is written and
    any number of chargers' saves can share one commit. Whoever ran the call waits for ``pending`` (the commit,
    then ``settled``) before answering: nothing is answered before it is committed."""

    def __init__(self) -> None:
        self.pending: tuple[Committed, list[Any]] | None = None
        self.waited = False  # a later save of the call waited for the first one: the rest ran as usual


_calls = threading.local()


def _no_store_read() -> None:
    if getattr(_calls, "inline", False):
        raise NeedsStore


class EventLog(Application[UUID]):
    """The platform's one event log (SQLite embedded, PostgreSQL in production, memory in tests)."""

    name = "CloudBay"  # names the PostgreSQL table (cloudbay_events): never change it

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.committer = GroupCommitter(self)
        self._listeners: list[Callable[[], None]] = []
        # aggregates of the kinds in ``kept_kinds`` as this process last saved them (see ``take``); of those,
        # ``checked_kinds`` are the ones other writers change too: a decision on a kept copy counts only if the
        # save of that copy checks it (``relied_on``)
        self.kept_kinds: tuple[type[Aggregate], ...] = ()
        self.checked_kinds: tuple[type[Aggregate], ...] = ()
        self._kept: OrderedDict[UUID, Any] = OrderedDict()
        self._kept_lock = threading.Lock()
        self._listeners_lock = threading.Lock()

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's ``save``; given domain events only (what the group committer writes), without its
        check of each against its runtime-checkable protocols: about 10 µs an event, under the GIL, on the
        writer's path of every message that records a fact."""
        if kwargs or not all(isinstance(obj, DomainEvent) for obj in objs):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        processing_event.events.extend(objs)  # type: ignore[arg-type]
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)  # the library's (deprecated) hook, as its ``save`` calls it
        return recordings

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every save (in-process followers poll less)."""
        with self._listeners_lock:
            self._listeners.append(listener)

    def _notify(self, recordings: list[Recording[UUID]]) -> None:
        if recordings:
            self._forget_overtaken(recordings)
            for listener in list(self._listeners):
                listener()

    def _forget_overtaken(self, recordings: list[Recording[UUID]]) -> None:
        """A kept copy older than what was just saved (by a call that did not ``take`` it) is dropped."""
        with self._kept_lock:
            if not self._kept:
                return
            for recording in recordings:
                event = recording.domain_event
                kept = self._kept.get(event.originator_id)
                if kept is not None and kept.version < event.originator_version:
                    del self._kept[event.originator_id]

    def load(self, aggregate_id: UUID, missing: ServiceError) -> Any:
        """The aggregate, or ``missing`` raised when there is none."""
        _no_store_read()
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            raise missing from None

    def load_or_none(self, aggregate_id: UUID) -> Any:
        _no_store_read()
        try:
            return self.repository.get(aggregate_id)
        except AggregateNotFoundError:
            return None

    def take(self, aggregate_id: UUID, likely_new: bool = False) -> Any:
        """The aggregate (or None), without a store read when this process saved it last: that copy is handed
        out and forgotten, so no two threads ever hold it; a save puts it back. A copy that another writer has
        overtaken meanwhile fails its save (the optimistic-concurrency check), and the retry reads the store.
        For the aggregates one writer changes almost always (a charger's transactions, by its session), and
        for ``checked_kinds`` (see ``relied_on``).

        ``likely_new``: when nothing is kept, None without a read (the caller creates it): if it exists after
        all, the save of version 1 loses the race and the call runs again, reading the store this time."""
        with self._kept_lock:
            kept = self._kept.pop(aggregate_id, None)
        fresh = getattr(_calls, "fresh", False)
        if kept is None or fresh:
            return None if likely_new and not fresh else self.load_or_none(aggregate_id)
        taken: list[Any] | None = getattr(_calls, "taken", None)
        if taken is not None:
            taken.append(kept)
        from_kept: set[int] | None = getattr(_calls, "from_kept", None)
        if from_kept is not None:
            from_kept.add(id(kept))
        return kept

    def relied_on(self, aggregate: Any) -> None:
        """The call's decision depends on ``aggregate`` as it was read, and its save will not check that (it is
        unchanged, or the command refused): when it is a kept copy of a ``checked_kinds`` aggregate, the call is
        made again from the store (``Unconfirmed``), since another process may have changed it."""
        if not isinstance(aggregate, self.checked_kinds) or getattr(_calls, "fresh", False):
            return
        if id(aggregate) in (getattr(_calls, "from_kept", None) or ()):
            raise Unconfirmed

    def _attempt(self, attempt: Callable[[], tuple[R, list[Any]]], fresh: bool) -> tuple[R, list[Any]]:
        """Run ``attempt`` once (every store read when ``fresh``); again, fresh, when it relied on a kept copy
        its save does not check (``Unconfirmed``; on the event loop that moves the call to a store thread)."""
        was = (getattr(_calls, "fresh", False), getattr(_calls, "from_kept", None))
        _calls.fresh, _calls.from_kept = fresh or was[0], set()
        try:
            try:
                return attempt()
            except Unconfirmed:
                if getattr(_calls, "inline", False):
                    raise
                _calls.fresh, _calls.from_kept = True, set()
                return attempt()
        finally:
            _calls.fresh, _calls.from_kept = was

    def forget_kept(self) -> None:
        """Drop every kept copy: the next ``take`` of each reads the store."""
        with self._kept_lock:
            self._kept.clear()

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

    def deferring(self, call: Callable[[], R], fresh: bool = False) -> tuple[R, Deferred]:
        """Run ``call`` in this thread with its first save deferred (see ``Deferred``); the caller must wait for
        ``Deferred.pending`` and call ``settled`` before it uses the result. ``RetryWhole``: run it again, with
        ``fresh`` (every read from the store: it lost a race)."""
        deferred = Deferred()
        _calls.deferred, _calls.fresh = deferred, fresh
        try:
            return call(), deferred
        finally:
            _calls.deferred, _calls.fresh = None, False

    def inline(self, call: Callable[[], R]) -> tuple[R, Deferred]:
        """``deferring`` in the calling thread (the event loop's) for a call that needs no store read: one whose
        aggregates this process kept (``take``). ``NeedsStore`` as soon as it would read the store."""
        _calls.inline, _calls.taken = True, []
        try:
            return self.deferring(call)
        except NeedsStore:
            self.keep(*_calls.taken)  # what it took and left unchanged goes back: the store thread takes it again
            raise
        finally:
            _calls.inline, _calls.taken = False, None

    def settled(self, deferred: Deferred) -> None:
        """After the deferred save committed: keep its aggregates (``take``) as a save in ``retrying`` does."""
        if deferred.pending is not None:
            self.keep(*deferred.pending[1])

    def _wait_deferred(self, deferred: Deferred) -> None:
        """A later save of a deferred call: the first must be committed before anything builds on it."""
        deferred.waited = True
        if deferred.pending is None:
            return
        if getattr(_calls, "inline", False):  # never wait on the event loop's thread
            raise RuntimeError("a call run inline saves once")
        try:
            deferred.pending[0].result()
        except IntegrityError:
            raise RetryWhole from None
        self.settled(deferred)

    def retrying(self, attempt: Callable[[], tuple[R, list[Any]]], what: str) -> R:
        """Run ``attempt`` (load, decide; it returns its result and the aggregates to save) and save them in the
        next group commit; on a lost race, run it again from a fresh load."""
        deferred: Deferred | None = getattr(_calls, "deferred", None)
        if deferred is not None and not deferred.waited:
            if deferred.pending is None:
                result, changed = self._attempt(attempt, fresh=False)
                done = self.committer.submit(*changed)
                if done is None:
                    self.keep(*changed)
                else:
                    deferred.pending = (done, changed)
                return result
            self._wait_deferred(deferred)
        for n in range(MAX_CONFLICT_RETRIES):
            if n:
                time.sleep(random.uniform(0, 0.002 * n))  # jitter: let the winner's writes settle
            result, changed = self._attempt(attempt, fresh=n > 0)
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
            try:
                result = command(aggregate)
            except Exception:
                self.relied_on(aggregate)  # refused on a kept copy: refused again on what the store holds
                raise
            if not aggregate.pending_events:
                self.relied_on(aggregate)
            return result, [aggregate]

        return self.retrying(attempt, f"aggregate {aggregate_id}")

    def close(self) -> None:
        self.committer.stop()
        super().close()
