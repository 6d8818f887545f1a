"""Every read model of a projector process kept by one thread: each poll reads and decodes the new events once.

One ``Follower`` per projection reads the log on its own: eleven queries and eleven decodings of the same
events per poll, and the two transaction projections each advance their own copy of every transaction's
figures. ``FollowerGroup`` polls once for all of them (``catch_up_group``): one query selects what any of
them reads, each event is decoded once and the same object goes to every projection reading it (so the figures
after it are computed once, ``projections.transaction_states``). Each projection with events in the window
applies them in a read-model transaction of its own that claims and moves its position, exactly as a follower
does; the projections with nothing in the window have their positions moved together, in one transaction.

When anything fails, the group hands over to one ``Follower`` per projection, which name a failing event in
``/readyz``, wait for the store, and skip a poison event (``projections.poison``); once all of them are
healthy and caught up again, the group takes over again. Positions are per projection throughout, so nothing
is applied twice or left out when the group and the followers hand over.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.application import Application

from projections.db import ReadModelDB
from projections.follower import (
    BATCH_SIZE,
    COALESCE_SECONDS,
    Follower,
    Projection,
    claim,
    prepare,
    track,
)
from projections.together import apply_window, projections_share, read_window

log = logging.getLogger("cloudbay.projections")

HEALTHY_FOR_SECONDS = 10.0  # the followers run this long without a failure before the group takes over again


def catch_up_group(
    app: Application[UUID], db: ReadModelDB, projections: Sequence[Projection], limit: int = BATCH_SIZE
) -> int:
    """Apply the next window of the log to every projection, each event read and decoded once; how far the
    lowest position moved (0: every projection is at the head)."""
    window = read_window(app, db, projections, limit)
    if window is None:
        return 0
    positions, wanted, notifications, stop = window
    start = min(positions.values())
    decoded: dict[int, Any] = {}
    idle: list[Projection] = []  # nothing of theirs in the window: their positions move together
    present = {n.topic for n in notifications}
    for projection in projections:
        if positions[projection.name] >= stop:
            continue
        mine = projections_share(notifications, wanted[projection.name], present, positions[projection.name])
        if mine:
            apply_window(app, db, projection, mine, stop, decoded)
        else:
            idle.append(projection)
    if idle:
        with db.transaction() as tx:
            for projection in idle:  # in the catalog's order: two nodes lock the tracking rows in the same order
                if claim(tx, db, projection.name) < stop:
                    track(tx, projection.name, stop)
    return stop - start


class FollowerGroup:
    """A thread keeping ``projections`` caught up together (see the module's docstring)."""

    def __init__(
        self, app: Application[UUID], db: ReadModelDB, projections: Sequence[Projection], poll_interval: float = 0.5
    ) -> None:
        self.app, self.db, self.projections, self.poll_interval = app, db, list(projections), poll_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="follower-group", daemon=True)
        self._followers: list[Follower] = []  # while the group has handed over
        self._lock = threading.Lock()

    def start(self) -> None:
        for projection in self.projections:
            prepare(self.db, projection)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=timeout)
        self._stop_followers()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                moved = catch_up_group(self.app, self.db, self.projections)
                while moved and not self._stop.is_set():
                    if moved < BATCH_SIZE:  # at the head: let the next saves gather into one batch (on SQLite each
                        self._stop.wait(COALESCE_SECONDS)  # batch is a write that the node's saves wait behind)
                    moved = catch_up_group(self.app, self.db, self.projections)
            except Exception as e:
                log.warning(
                    "projections applied together failed (%s: %s); applying them one by one", type(e).__name__, e
                )
                self._one_by_one()
                continue
            self._stop.wait(self.poll_interval)
            self._stop.wait(COALESCE_SECONDS)  # let a burst of saves gather into one batch

    def _one_by_one(self) -> None:
        """One follower per projection until every one has been healthy for a while (or the group stops)."""
        with self._lock:
            self._followers = [Follower(self.app, self.db, p, self.poll_interval) for p in self.projections]
            for follower in self._followers:
                follower.start()
        healthy_since = None
        while not self._stop.wait(1.0):
            if any(f.failure for f in self._followers):
                healthy_since = None
            elif healthy_since is None:
                healthy_since = time.monotonic()
            elif time.monotonic() - healthy_since >= HEALTHY_FOR_SECONDS:
                log.info("projections applied together again")
                break
        self._stop_followers()

    def _stop_followers(self) -> None:
        with self._lock:
            followers, self._followers = self._followers, []
        for follower in followers:
            follower.stop()
