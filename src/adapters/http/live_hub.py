"""The live feed's fan-out: the ``transactions`` follower's committed batches to each watching connection."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from cloudbay_domain.transaction import Transaction
from projections.transactions import TransactionQueries, Visibility

SLOW_CONSUMER_CLOSE_CODE = 4429
QUEUE_SIZE = 1000  # more than a follower batch (500 events): one batch alone never overflows a client
OVERFLOW: dict[str, Any] = {"type": "overflow"}
W = TypeVar("W")


class Watchers(Generic[W]):
    """The connections watching each key (a charger, a campaign): added and removed on the connections' loops,
    read in a follower's thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, set[W]] = {}

    def add(self, key: str, watcher: W) -> None:
        with self._lock:
            self._by_key.setdefault(key, set()).add(watcher)

    def remove(self, key: str, watcher: W) -> bool:
        """Forget ``watcher``; True when nobody watches ``key`` any more."""
        with self._lock:
            watchers = self._by_key.get(key, set())
            watchers.discard(watcher)
            if watchers:
                return False
            self._by_key.pop(key, None)
            return True

    def count(self) -> int:
        with self._lock:
            return sum(len(w) for w in self._by_key.values())

    def by_key(self) -> dict[str, list[W]]:
        """A copy: who watches what, now."""
        with self._lock:
            return {key: list(watchers) for key, watchers in self._by_key.items()}


@dataclass(eq=False)
class Subscription:
    """One connection's interest in one charger; lives on the connection's event loop."""

    station_id: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]
    visibility: Visibility = field(default_factory=Visibility)  # what this watcher may see: nothing by default
    after: int = 0  # messages at or before this position are in the snapshot already
    overflowed: bool = field(default=False)

    def offer(self, messages: list[dict[str, Any]]) -> None:
        """Queue a batch's messages (on the loop); on overflow, drop them all and queue OVERFLOW instead."""
        if self.overflowed:
            return
        for message in messages:
            if not self.visibility.allows(message):
                continue  # the REST rule, on every message: another user's transaction is not there
            try:
                self.queue.put_nowait(message)
            except asyncio.QueueFull:
                self.overflowed = True
                while not self.queue.empty():
                    self.queue.get_nowait()
                self.queue.put_nowait(OVERFLOW)
                return


def live_message(event: Transaction.Event, row: dict[str, Any], position: int) -> dict[str, Any]:
    """One event's message. Events carry facts only, so the figures are the read model's row after the batch
    the event came in (the projection computed them); the event names what happened."""
    return {
        "type": "transaction",
        "event": type(event).__name__,
        "station_id": row["station_id"],
        "transaction_id": row["transaction_id"],
        "status": row["status"],
        "energy_wh": row["energy_wh"],
        "power_w": row["last_power_w"],
        "charging_state": row["charging_state"],
        "user": event.user if isinstance(event, Transaction.Attributed) else row["user"],
        "position": position,
    }


class LiveHub:
    """Fans the ``transactions`` follower's committed batches out to the live connections.

    ``publish`` runs in the follower's thread; each connection's queue is fed on its own loop with
    ``call_soon_threadsafe``, one call per batch.
    """

    def __init__(self, queries: TransactionQueries, queue_size: int = QUEUE_SIZE) -> None:
        self.queries = queries
        self.queue_size = queue_size
        self._subscriptions: Watchers[Subscription] = Watchers()

    def subscribe(self, station_id: str, visibility: Visibility) -> Subscription:
        subscription = Subscription(station_id, asyncio.get_running_loop(), asyncio.Queue(self.queue_size), visibility)
        self._subscriptions.add(station_id, subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.remove(subscription.station_id, subscription)

    def watched(self) -> int:
        return self._subscriptions.count()

    def publish(self, batch: list[tuple[int, Any]]) -> None:
        """The follower's subscriber: one message per Transaction event, to the connections of its charger."""
        events = [(p, e) for p, e in batch if isinstance(e, Transaction.Event)]
        watchers = self._subscriptions.by_key()
        if not events or not watchers:
            return  # nobody is watching: not even a read-model query
        rows = self.queries.by_ids({str(e.originator_id) for _, e in events})
        messages: dict[str, list[dict[str, Any]]] = {}
        for position, event in events:
            row = rows.get(str(event.originator_id))
            if row is not None and row["station_id"] in watchers:
                messages.setdefault(row["station_id"], []).append(live_message(event, row, position))
        for station_id, batch_messages in messages.items():
            for subscription in watchers[station_id]:
                with contextlib.suppress(RuntimeError):  # its loop has closed: the server is going down
                    subscription.loop.call_soon_threadsafe(subscription.offer, batch_messages)
