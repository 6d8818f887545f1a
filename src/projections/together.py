"""Rebuilding several projections together: each window of the log is read and decoded once for all of them.

``cloudbay replay`` resets every projection and then calls ``catch_up_together`` until it returns 0. One query
selects the window's events that any projection reads; each is decoded once and the same event object goes to
every projection reading it (the transaction projections then compute its figures once,
``projections.transaction_states``). Each projection applies its share in a read-model transaction of its own
that claims and moves its tracked position, as ``catch_up`` does: exactly once, and a follower running
meanwhile is never applied twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple
from uuid import UUID

from eventsourcing.application import Application

from projections.batch import flush_batch
from projections.db import ReadModelDB
from projections.follower import SPAN, Projection, claim, handled_topics, track, tracked_position
from projections.poison import EventFailed

WINDOW = 5_000  # events per query: many, as nothing waits for a rebuild's first rows


def catch_up_together(
    app: Application[UUID],
    db: ReadModelDB,
    projections: Sequence[Projection],
    limit: int = WINDOW,
    until: int | None = None,
) -> tuple[int, dict[str, tuple[int, int]]]:
    """Apply the next window of the log to each of ``projections``, reading and decoding each stored event once.

    The window starts after the lowest tracked position among them: one query selects the events any of them
    reads, each is decoded once (when a projection wants it) and the same object goes to every projection that
    reads it. Each projection then applies its share in a transaction of its own that claims its position, as
    ``catch_up`` does, so a follower running meanwhile (which may be ahead) is never applied twice. Returns the
    window's end (0: nothing left up to the head, or up to ``until`` when given: a rebuild ends at the head it
    started from even while chargers keep writing) and per projection (events this call applied, events of the
    window it reads); windows follow one another without gap or overlap.
    """
    window = read_window(app, db, projections, limit, until)
    if window is None:
        return 0, {}
    positions, wanted, notifications, stop = window
    decoded: dict[int, Any] = {}
    figures: dict[str, tuple[int, int]] = {}
    present = {n.topic for n in notifications}
    for projection in projections:
        reads = wanted[projection.name]
        mine = projections_share(notifications, reads, present)
        applied = 0
        if positions[projection.name] < stop:
            applied = apply_window(app, db, projection, mine, stop, decoded)
        figures[projection.name] = (applied, len(mine))
    return stop, figures


def projections_share(notifications: Sequence[Any], reads: set[str], present: set[str], after: int = 0) -> list[Any]:
    """The events of a window after ``after`` that a projection reading ``reads`` (empty: every topic) applies;
    ``present``: the window's topics, so that a projection reading none of them skips the scan."""
    if reads and not reads & present:
        return []
    return [n for n in notifications if n.id > after and (not reads or n.topic in reads)]


class Window(NamedTuple):
    """The next window of the log for several projections, read once: their positions before it, the topics
    each reads (empty: every event), the window's events any of them reads, and the position it ends at."""

    positions: dict[str, int]
    wanted: dict[str, set[str]]
    notifications: Sequence[Any]
    stop: int


def read_window(
    app: Application[UUID], db: ReadModelDB, projections: Sequence[Projection], limit: int, until: int | None = None
) -> Window | None:
    """The window after the lowest tracked position of ``projections`` (at most ``limit`` events, up to the
    head or ``until``); None when every one of them is there already."""
    with db.transaction(write=False) as tx:
        positions = {p.name: tracked_position(tx, p.name) for p in projections}
    head = app.recorder.max_notification_id() or 0
    if until is not None:
        head = min(head, until)
    start = min(positions.values(), default=head)
    if head <= start:
        return None
    wanted = {p.name: set(handled_topics(type(p))) for p in projections}
    topics = () if any(not t for t in wanted.values()) else tuple(sorted(set().union(*wanted.values())))
    bound = min(head, start + SPAN * limit)
    notifications = app.recorder.select_notifications(start=start + 1, limit=limit, stop=bound, topics=topics)
    stop = notifications[-1].id if len(notifications) == limit else bound  # as in ``catch_up``
    return Window(positions, wanted, notifications, stop)


def apply_window(
    app: Application[UUID], db: ReadModelDB, projection: Projection, mine: list[Any], stop: int, decoded: dict[int, Any]
) -> int:
    """Apply the events of ``mine`` after the projection's position and move it to ``stop``; how many applied."""
    with db.transaction() as tx:
        position = claim(tx, db, projection.name)
        if position >= stop:  # a follower got there first
            return 0
        getattr(projection, "begin", lambda: None)()  # a projection that buffers within a batch starts afresh
        applied, last, apply = 0, None, projection.apply  # bound once (``follower.catch_up``)
        for notification in mine:
            if notification.id <= position:
                continue
            try:
                event = decoded.get(notification.id)
                if event is None:
                    event = decoded[notification.id] = app.mapper.to_domain_event(notification)
                apply(event, tx, notification.id)
            except Exception as e:
                raise EventFailed(notification.id, notification.topic, e) from e
            applied, last = applied + 1, (notification.id, notification.topic)
        flush_batch(projection, tx, last)
        track(tx, projection.name, stop)
    return applied
