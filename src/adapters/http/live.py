"""The live feed ``/api/v1/live?charger=<stationId>``: a charger's transaction events as they land. (The same
address with ``?rollout=<campaignId>`` follows a rollout campaign's progress: ``adapters.http.live_rollouts``.)

Protocol (server to client only; whatever the client sends is ignored):

1. ``{"type": "snapshot", "station_id", "position", "transactions": [...]}``: the charger's active
   transactions as the read model had them at ``position``;
2. then one ``{"type": "transaction", "event", "station_id", "transaction_id", "status", "energy_wh",
   "power_w", "charging_state", "user", "position"}`` per Transaction event of the charger after
   ``position``, in log order. Figures and ``user`` are the read model's after the batch the event came in
   (events carry facts; the projection computes figures).

Browsers cannot set headers on a WebSocket, so the bearer token is read from the ``Authorization`` header or the
``access_token`` query parameter (redacted in CloudBay's own logs, but a proxy in front may log it: prefer
short-lived tokens). It is checked once, at the upgrade. The access policy is REST's (``adapters.access``): the
caller must be allowed to watch the charger (an operator, its owner, a co-owner, a guest), and the snapshot and
every message carry only the transactions REST would show the caller (``visible_to``: an operator and the
charger's owners every one, a guest those charged to them; another user's transaction, and one not yet
attributed, never reach a guest, as REST answers 404 for them). Refusals are HTTP answers to the upgrade
(problem+json): 401 without a valid token, 400 without ``charger``, 403 when the caller may not watch it (a
manufacturer), 404 for an unknown charger and for one the caller has no role on.

The fan-out is ``adapters.http.live_hub``. A client that falls :attr:`LiveHub.queue_size` messages behind is
closed with code 4429: it has missed events, and reconnecting gives it a fresh snapshot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.access import Act, Actor, admit, visible_to
from adapters.http.common import verify_token
from adapters.http.live_hub import OVERFLOW, SLOW_CONSUMER_CLOSE_CODE, Subscription
from adapters.http.live_rollouts import rollout_feed
from adapters.http.live_socket import refuse, serve, token_of
from adapters.http.problems import Problem
from projections.transactions import Visibility

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.live")


async def _admit(websocket: WebSocket, runtime: Runtime) -> tuple[str, Visibility]:
    """The station id the caller may watch and what they may see of it, or a Problem to refuse the upgrade."""
    principal = await verify_token(runtime, token_of(websocket))
    station_id = websocket.query_params.get("charger")
    if not station_id:
        raise Problem(400, "Bad Request", "charger (a station id) or rollout (a campaign id) is required")
    if await admit(runtime, principal, station_id, Act.WATCH) is Actor.OPERATOR:
        if await runtime.run(runtime.fleet.get_charger, station_id) is None:
            raise Problem(404, "Not Found", f"no charger {station_id}")
    return station_id, await visible_to(runtime, principal)


async def live_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    if "rollout" in websocket.query_params:
        return await rollout_feed(websocket, runtime)
    admitted = await _admitted(websocket, runtime)
    if admitted is None:
        return
    await websocket.accept()
    subscription = runtime.live.subscribe(*admitted)  # before the snapshot: nothing falls in between
    try:
        await _send_snapshot(websocket, runtime, subscription)
        await serve(websocket, _push(websocket, subscription))
    except WebSocketDisconnect:
        pass
    finally:
        runtime.live.unsubscribe(subscription)


async def _admitted(websocket: WebSocket, runtime: Runtime) -> tuple[str, Visibility] | None:
    """The station id the caller may watch and their visibility; else None, the upgrade refused (the Problem)."""
    try:
        return await _admit(websocket, runtime)
    except Problem as problem:
        await refuse(websocket, problem)
        return None


async def _send_snapshot(websocket: WebSocket, runtime: Runtime, subscription: Subscription) -> None:
    """The charger's active transactions; events up to the snapshot's position are not pushed again."""
    station_id = subscription.station_id
    position, active = await runtime.run(runtime.transactions.active_snapshot, station_id)
    active = [t for t in active if subscription.visibility.allows(t)]
    subscription.after = position
    snapshot = {"type": "snapshot", "station_id": station_id, "position": position, "transactions": active}
    await websocket.send_json(snapshot)


async def _push(websocket: WebSocket, subscription: Subscription) -> None:
    while True:
        message = await subscription.queue.get()
        if message is OVERFLOW:
            log.warning("live client of %s fell behind; closing it", subscription.station_id)
            await websocket.close(SLOW_CONSUMER_CLOSE_CODE, "too slow: reconnect for a fresh snapshot")
            return
        if message["position"] > subscription.after:
            await websocket.send_json(message)
