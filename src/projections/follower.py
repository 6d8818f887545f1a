"""Follow the event log and keep one projection's read model up to date, exactly once per event position: a
batch and the new tracked position are written in one read-model transaction (with a ``flush``, its batch too).
Works on every store: it polls the log from its position, woken at once when this process saves events."""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.utils import get_topic

from projections.batch import flush_batch
from projections.db import ReadModelDB, Tx
from projections.poison import SKIPPED_DDL, EventFailed, PoisonWatch, record_skipped

log = logging.getLogger("cloudbay.projections")

BATCH_SIZE = 500
SPAN = 4  # a batch is sought in the next SPAN * limit positions, not up to the head (docs/architecture.md)
COALESCE_SECONDS, RETRY_SECONDS = 0.02, 2.0  # waits: for a burst of saves to gather; after a failure
TRACKING_DDL = "CREATE TABLE IF NOT EXISTS rm_tracking (projection TEXT PRIMARY KEY, position BIGINT NOT NULL)"
STATUS_DDL = "CREATE TABLE IF NOT EXISTS rm_status (projection TEXT PRIMARY KEY, failure TEXT, updated_at TEXT)"


class Projection(Protocol):
    """A read model. One may also define ``begin()`` and ``flush(tx)``, called before each batch and after its
    last event (in the batch's transaction), to buffer its writes within a batch (``projections.rollouts``)."""

    name: str

    def create_tables(self, tx: Tx) -> None: ...
    def drop_tables(self, tx: Tx) -> None: ...
    def apply(self, event: Any, tx: Tx, position: int) -> None: ...


def tracked_position(tx: Tx, name: str) -> int:
    rows = tx.fetchall("SELECT position FROM rm_tracking WHERE projection = %s", (name,))
    return int(rows[0]["position"]) if rows else 0


def track(tx: Tx, name: str, position: int) -> None:
    tx.execute(
        "INSERT INTO rm_tracking (projection, position) VALUES (%s, %s) "
        "ON CONFLICT (projection) DO UPDATE SET position = excluded.position",
        (name, position),
    )


def claim(tx: Tx, db: ReadModelDB, name: str) -> int:
    """The tracked position, locked until the transaction ends: two nodes never apply the same batch."""
    lock = " FOR UPDATE" if db.kind == "postgres" else ""  # SQLite transactions are already exclusive
    rows = tx.fetchall(f"SELECT position FROM rm_tracking WHERE projection = %s{lock}", (name,))
    return int(rows[0]["position"]) if rows else 0


def prepare(db: ReadModelDB, projection: Projection) -> None:
    with db.transaction() as tx:
        _lock_tracking_row(tx, db, projection.name)
        projection.create_tables(tx)


def reset(db: ReadModelDB, projection: Projection) -> None:
    """Drop the read model and its tracking position, ready to be rebuilt from position 0.

    Safe while followers of the projection run (in this process or another): the tracking row is locked first,
    as ``catch_up`` locks it before touching the projection's tables, so a follower waits for the rebuilt
    empty tables at position 0 instead of holding one table the reset wants while waiting for another.
    """
    with db.transaction() as tx:
        _lock_tracking_row(tx, db, projection.name)
        projection.drop_tables(tx)
        tx.execute("DELETE FROM rm_skipped WHERE projection = %s", (projection.name,))  # applied again now
        projection.create_tables(tx)
        track(tx, projection.name, 0)


def _lock_tracking_row(tx: Tx, db: ReadModelDB, name: str) -> None:
    """Make sure the bookkeeping tables and the projection's tracking row exist, and lock that row: the one lock
    every writer of a projection's tables takes first (lock ordering: tracking row, then tables)."""
    tx.execute(TRACKING_DDL)
    tx.execute(STATUS_DDL)
    tx.execute(SKIPPED_DDL)
    tx.execute(
        "INSERT INTO rm_tracking (projection, position) VALUES (%s, 0) ON CONFLICT (projection) DO NOTHING", (name,)
    )
    claim(tx, db, name)


@functools.cache
def handled_topics(projection_class: type) -> tuple[str, ...]:
    """The topics of the event classes a projection's ``apply`` is registered for (empty: every event).

    The store filters on them, so a projection never reads or decodes another aggregate's events.
    Projections register concrete event classes (a base class would not match its subclasses' topics).
    """
    method = projection_class.__dict__.get("apply")
    registry = getattr(getattr(method, "dispatcher", None), "registry", {})
    return tuple(sorted(get_topic(cls) for cls in registry if cls is not object))


def catch_up(
    app: Application[UUID],
    db: ReadModelDB,
    projection: Projection,
    limit: int = BATCH_SIZE,
    applied: list[tuple[int, Any]] | None = None,
    skip: tuple[int, str] | None = None,
) -> int:
    """Apply the next batch of events after the tracked position. Returns how far the position moved
    (0: caught up). With ``applied`` given, the (position, event) pairs applied are appended to it once
    committed. An event that fails is raised as ``EventFailed`` (its position and topic); ``skip``, a
    (position, error), records that event in ``rm_skipped`` instead of applying it (``projections.poison``).
    """
    batch: list[tuple[int, Any]] = []
    with db.transaction() as tx:
        position = claim(tx, db, projection.name)
        head = app.recorder.max_notification_id() or 0
        if head <= position:
            return 0
        topics, bound = handled_topics(type(projection)), min(head, position + SPAN * limit)
        notifications = app.recorder.select_notifications(start=position + 1, limit=limit, stop=bound, topics=topics)
        getattr(projection, "begin", lambda: None)()  # a projection that buffers within a batch starts afresh
        last, apply = None, projection.apply  # bound once: a singledispatchmethod builds a wrapper per access
        for notification in notifications:
            if skip is not None and notification.id == skip[0]:
                record_skipped(tx, projection.name, notification, skip[1])
                continue
            try:
                event = app.mapper.to_domain_event(notification)
                apply(event, tx, notification.id)
            except Exception as e:
                raise EventFailed(notification.id, notification.topic, e) from e
            batch.append((notification.id, event))
            last = (notification.id, notification.topic)
        flush_batch(projection, tx, last)  # what a batching projection buffered, written in this transaction
        # a short batch means nothing else of interest up to the bound: the position moves to it
        new_position = notifications[-1].id if len(notifications) == limit else bound
        track(tx, projection.name, new_position)
    if applied is not None:
        applied.extend(batch)
    return new_position - position


def record_failure(db: ReadModelDB, name: str, failure: str | None) -> None:
    """Say (for /readyz, in any process) that a projection stopped, or that it resumed."""
    with db.transaction() as tx:
        tx.execute(STATUS_DDL)
        tx.execute(
            "INSERT INTO rm_status (projection, failure, updated_at) VALUES (%s, %s, %s) ON CONFLICT (projection)"
            " DO UPDATE SET failure = excluded.failure, updated_at = excluded.updated_at",
            (name, failure, datetime.now(UTC).isoformat()),
        )


def recorded_failure(db: ReadModelDB, name: str) -> str | None:
    rows = db.query("SELECT failure FROM rm_status WHERE projection = %s", (name,))
    return rows[0]["failure"] if rows else None


class Follower:
    """A background thread keeping one projection caught up with the event log.

    With ``applies=False`` the projection is kept by another process (``cloudbay project``): this follower
    only watches its tracked position, tails the event log up to it for its subscribers (the live feed), and
    reads the failure that process recorded. Either way, ``position``, ``wait_for``, ``failure`` and
    ``subscribe`` mean the same.
    """

    def __init__(
        self,
        app: Application[UUID],
        db: ReadModelDB,
        projection: Projection,
        poll_interval: float = 0.5,
        *,
        applies: bool = True,
    ) -> None:
        self.app = app
        self.db = db
        self.projection = projection
        self.poll_interval = poll_interval if applies else min(poll_interval, 0.1)
        self.applies = applies
        self._failure: str | None = None  # of this process's follower; a watcher reads the projector's
        self._poison = PoisonWatch()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._caught_up = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"follower-{projection.name}", daemon=True)
        self._subscribers: list[Callable[[list[tuple[int, Any]]], None]] = []
        self._wanted: list[Callable[[], bool]] = []  # whether anyone listens now (a watcher decodes nothing else)

    @property
    def failure(self) -> str | None:
        """Why the projection stopped applying events, or None while it is healthy."""
        return self._failure if self.applies else recorded_failure(self.db, self.projection.name)

    def subscribe(
        self, callback: Callable[[list[tuple[int, Any]]], None], wanted: Callable[[], bool] | None = None
    ) -> None:
        """Call ``callback`` (in the follower's thread) with each committed batch of (position, event).
        ``wanted``: whether the subscriber listens right now; a watcher skips the events nobody wants unread."""
        self._subscribers.append(callback)
        self._wanted.append(wanted or (lambda: True))

    def start(self) -> None:
        prepare(self.db, self.projection)
        if self.applies:
            add_listener = getattr(self.app, "add_listener", None)
            if add_listener is not None:
                add_listener(self._wake.set)
        elif not self._subscribers:
            return  # a watcher without subscribers has nothing to do between questions
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)

    def position(self) -> int:
        with self.db.transaction(write=False) as tx:
            return tracked_position(tx, self.projection.name)

    def wait_for(self, position: int, timeout: float = 5.0) -> bool:
        """Block until the read model has applied ``position`` (read-your-writes for callers)."""
        deadline = time.monotonic() + timeout
        with self._caught_up:
            while self.position() < position:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._caught_up.wait(min(remaining, 0.1))
        return True

    def _publish(self, applied: list[tuple[int, Any]]) -> None:
        with self._caught_up:
            self._caught_up.notify_all()
        for callback in self._subscribers:
            try:
                callback(applied)
            except Exception:  # a subscriber's failure must not stop the read model
                log.exception("subscriber of projection %s failed", self.projection.name)

    def _watch(self) -> None:
        seen = self.position()
        while not self._stop.is_set():
            try:
                position = self.position()
                if not any(wanted() for wanted in self._wanted):
                    seen = position  # nobody listens: the events up to here are nobody's to decode
                while seen < position:
                    batch = self.app.recorder.select_notifications(
                        start=seen + 1, limit=BATCH_SIZE, stop=position, topics=handled_topics(type(self.projection))
                    )
                    if batch:
                        self._publish([(n.id, self.app.mapper.to_domain_event(n)) for n in batch])
                    if len(batch) < BATCH_SIZE:
                        break
                    seen = batch[-1].id
                seen = max(seen, position)
            except Exception:
                log.exception("watching projection %s failed; retrying", self.projection.name)
            self._stop.wait(self.poll_interval)

    def _run(self) -> None:
        if not self.applies:
            return self._watch()
        skip: tuple[int, str] | None = None
        while not self._stop.is_set():
            try:
                applied: list[tuple[int, Any]] = []
                limit = 1 if self._failure else BATCH_SIZE  # one event first after a failure: it is named
                while catch_up(self.app, self.db, self.projection, limit, applied=applied, skip=skip):
                    self._publish(applied)
                    applied, skip, limit = [], None, BATCH_SIZE
                self._poison.succeeded()
                if self._failure:
                    log.warning("projection %s resumed", self.projection.name)
                    self._failure = None
                    record_failure(self.db, self.projection.name, None)
            except Exception as e:  # stop applying, say so, retry from the tracked position
                self._failure, skip = f"{type(e).__name__}: {e}", self._poison.failed(e)
                log.exception("projection %s stopped (%s); will retry", self.projection.name, self._failure)
                try:
                    record_failure(self.db, self.projection.name, self._failure)
                except Exception:
                    log.exception("could not record the failure of projection %s", self.projection.name)
                self._stop.wait(RETRY_SECONDS)
                continue
            self._wake.wait(self.poll_interval)
            self._stop.wait(COALESCE_SECONDS)  # let a burst of saves gather into one batch
            self._wake.clear()
