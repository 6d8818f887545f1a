"""The live feed's fan-out: the ``transactions`` follower's committed batches to each watching connection."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Any

from cloudbay_domain.transaction import Transaction
from projections.transactions import TransactionQueries, Visibility

SLOW_CONSUMER_CLOSE_CODE = 4429
QUEUE_SIZE = 1000  # more than a follower batch (500 events): one batch alone never overflows a client
OVERFLOW: dict[str, Any] = {"type": "overflow"}


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
        self._lock = threading.Lock()
        self._subscriptions: dict[str, set[Subscription]] = {}

    def subscribe(self, station_id: str, visibility: Visibility) -> Subscription:
        subscription = Subscription(station_id, asyncio.get_running_loop(), asyncio.Queue(self.queue_size), visibility)
        with self._lock:
            self._subscriptions.setdefault(station_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        with self._lock:
            watchers = self._subscriptions.get(subscription.station_id, set())
            watchers.discard(subscription)
            if not watchers:
                self._subscriptions.pop(subscription.station_id, None)

    def watched(self) -> int:
        with self._lock:
            return sum(len(s) for s in self._subscriptions.values())

    def publish(self, batch: list[tuple[int, Any]]) -> None:
        """The follower's subscriber: one message per Transaction event, to the connections of its charger."""
        events = [(p, e) for p, e in batch if isinstance(e, Transaction.Event)]
        with self._lock:
            watchers = {station: list(subs) for station, subs in self._subscriptions.items()}
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
