"""The live feed ``/api/v1/live?charger=<stationId>``: a charger's transaction events as they land.

Protocol (server to client only; whatever the client sends is ignored):

1. ``{"type": "snapshot", "station_id", "position", "transactions": [...]}``: the charger's active
   transactions as the read model had them at ``position``;
2. then one ``{"type": "transaction", "event", "station_id", "transaction_id", "status", "energy_wh",
   "power_w", "charging_state", "user", "position"}`` per Transaction event of the charger after
   ``position``, in log order. Figures are those the event carries; ``user`` is the read model's after the
   batch the event came in.

Browsers cannot set headers on a WebSocket, so the bearer token is read from the ``Authorization`` header
or the ``access_token`` query parameter (which ends up in access logs: prefer short-lived tokens). It is
checked once, at the upgrade. Refusals are HTTP answers to the upgrade (problem+json): 401 without a valid
token, 400 without ``charger``, 403 when the caller may not watch it, 404 for an unknown charger.

A client that falls :attr:`LiveHub.queue_size` messages behind is closed with code 4429: it has missed
events, and reconnecting gives it a fresh snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.access import may_watch
from adapters.auth import bearer_token
from adapters.http.common import verify_token
from adapters.http.problems import Problem
from cloudbay_domain.transaction import Transaction
from projections.transactions import TransactionQueries

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.live")

SLOW_CONSUMER_CLOSE_CODE = 4429
QUEUE_SIZE = 1000  # more than a follower batch (500 events): one batch alone never overflows a client
OVERFLOW: dict[str, Any] = {"type": "overflow"}


@dataclass(eq=False)
class Subscription:
    """One connection's interest in one charger; lives on the connection's event loop."""

    station_id: str
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[dict[str, Any]]
    after: int = 0  # messages at or before this position are in the snapshot already
    overflowed: bool = field(default=False)

    def offer(self, messages: list[dict[str, Any]]) -> None:
        """Queue a batch's messages (on the loop); on overflow, drop them all and queue OVERFLOW instead."""
        if self.overflowed:
            return
        for message in messages:
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

    def subscribe(self, station_id: str) -> Subscription:
        subscription = Subscription(station_id, asyncio.get_running_loop(), asyncio.Queue(self.queue_size))
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


def _token(websocket: WebSocket) -> str:
    token = websocket.query_params.get("access_token")
    if token and "authorization" not in websocket.headers:
        return token
    return bearer_token(websocket.headers)  # the header's token, or the 401 Problem


async def _admit(websocket: WebSocket, runtime: Runtime) -> str:
    """The station id the caller may watch, or a Problem to refuse the upgrade with."""
    principal = await verify_token(runtime, _token(websocket))
    station_id = websocket.query_params.get("charger")
    if not station_id:
        raise Problem(400, "Bad Request", "charger (a station id) is required")
    if not may_watch(principal, station_id):
        raise Problem(403, "Forbidden", f"you may not watch charger {station_id}")
    if await runtime.run(runtime.fleet.get_charger, station_id) is None:
        raise Problem(404, "Not Found", f"no charger {station_id}")
    return station_id


async def live_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    try:
        station_id = await _admit(websocket, runtime)
    except Problem as problem:
        await websocket.send_denial_response(problem.response(websocket.url.path))
        return
    await websocket.accept()
    subscription = runtime.live.subscribe(station_id)  # before the snapshot: nothing falls in between
    try:
        position, active = await runtime.run(runtime.transactions.active_snapshot, station_id)
        subscription.after = position
        snapshot = {"type": "snapshot", "station_id": station_id, "position": position, "transactions": active}
        await websocket.send_json(snapshot)
        await _serve(websocket, subscription)
    except WebSocketDisconnect:
        pass
    finally:
        runtime.live.unsubscribe(subscription)


async def _serve(websocket: WebSocket, subscription: Subscription) -> None:
    """Push until the client leaves, or until it is too slow and is closed."""
    tasks = {asyncio.create_task(_until_closed(websocket)), asyncio.create_task(_push(websocket, subscription))}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        with contextlib.suppress(WebSocketDisconnect, OSError):  # the client left while we were sending
            task.result()


async def _until_closed(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def _push(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        message = await subscription.queue.get()
        if message is OVERFLOW:
            log.warning("live client of %s fell behind; closing it", subscription.station_id)
            await websocket.close(SLOW_CONSUMER_CLOSE_CODE, "too slow: reconnect for a fresh snapshot")
            return
        if message["position"] > subscription.after:
            await websocket.send_json(message)
