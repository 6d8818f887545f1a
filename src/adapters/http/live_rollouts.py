"""The rollout feed ``/api/v1/live?rollout=<campaignId>``: a campaign's progress as it moves (operators only).

Protocol (server to client only; whatever the client sends is ignored):

1. ``{"type": "snapshot", "campaign_id", "position", "rollout": {...}}``: ``rollout`` is the body
   ``GET /api/v1/rollouts/{id}`` answers, read when the progress read model was at ``position`` (or later);
2. then ``{"type": "progress", "campaign_id", "position", "rollout": {...}}`` whenever the read model changed
   the campaign: after each of the rollouts projection's batches that touched it (its decisions, its chargers'
   updates), coalesced: at most one message per :attr:`RolloutHub.interval` (a quarter of a second) for a
   client, and none when the body did not change.

The token rules are the charger feed's (``adapters.http.live``): the ``Authorization`` header or the
``access_token`` query parameter, checked once, at the upgrade. Refusals are HTTP answers to the upgrade
(problem+json): 401 without a valid token, 403 for anyone but an operator, 404 for an unknown campaign, 400 when
the query names a charger too. A client that falls behind (:attr:`RolloutHub.queue_size` batches touched its
campaign while its messages waited) is closed with code 4429, as on the charger feed: reconnecting gives it a
fresh snapshot. The fan-out is ``adapters.http.rollout_hub``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING, Any
from uuid import UUID

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.access import check_operator
from adapters.http.common import verify_token
from adapters.http.live_hub import SLOW_CONSUMER_CLOSE_CODE
from adapters.http.live_socket import refuse, serve, token_of
from adapters.http.problems import Problem
from adapters.http.rollout_hub import RolloutWatch
from adapters.http.rollouts import present
from services.rollouts import UnknownCampaign

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.live")


async def rollout_feed(websocket: WebSocket, runtime: Runtime) -> None:
    try:
        campaign_id = await _admit(websocket, runtime)
    except Problem as problem:
        await refuse(websocket, problem)
        return
    await websocket.accept()
    hub = runtime.live_rollouts
    watch = hub.subscribe(str(campaign_id))  # before the snapshot: no change falls in between
    try:
        body = await _snapshot(websocket, runtime, watch, campaign_id)
        await serve(websocket, _push(websocket, runtime, watch, campaign_id, body))
    except WebSocketDisconnect:
        pass
    finally:
        hub.unsubscribe(watch)


async def _admit(websocket: WebSocket, runtime: Runtime) -> UUID:
    """The campaign the caller may watch, or a Problem to refuse the upgrade."""
    principal = await verify_token(runtime, token_of(websocket))
    if "charger" in websocket.query_params:
        raise Problem(400, "Bad Request", "watch either a charger or a rollout campaign, not both")
    check_operator(principal, "watch a rollout campaign")
    raw = websocket.query_params.get("rollout", "")
    try:
        campaign_id = UUID(raw)
        await runtime.run(runtime.platform.rollouts.get, campaign_id)
    except (ValueError, UnknownCampaign):
        raise Problem(404, "Not Found", f"no rollout campaign {raw}") from None
    return campaign_id


async def _read(runtime: Runtime, campaign_id: UUID, at_least: int | None = None) -> tuple[int, dict[str, Any]]:
    """The campaign's body and the read model's position before it was read. With ``at_least``, a body another
    watcher read at that position or later is shared; without (a snapshot), the body is read afresh."""
    hub, key = runtime.live_rollouts, str(campaign_id)
    known = hub.latest(key, at_least) if at_least is not None else None
    if known is not None:
        return known
    position = await runtime.run(runtime.rollout_queries.position)
    campaign = await runtime.run(runtime.platform.rollouts.get, campaign_id)
    body = present(campaign, await runtime.run(runtime.rollout_queries.progress, campaign_id))
    hub.remember(key, position, body)
    return position, body


async def _snapshot(websocket: WebSocket, runtime: Runtime, watch: RolloutWatch, campaign_id: UUID) -> dict[str, Any]:
    """Send the campaign as it is now (read afresh); changes up to its position are not pushed again."""
    position, body = await _read(runtime, campaign_id)
    watch.after = position
    await websocket.send_json(_message("snapshot", campaign_id, position, body))
    return body


def _message(kind: str, campaign_id: UUID, position: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "campaign_id": str(campaign_id), "position": position, "rollout": body}


async def _push(
    websocket: WebSocket, runtime: Runtime, watch: RolloutWatch, campaign_id: UUID, sent: dict[str, Any]
) -> None:
    """A progress message for the marks gathered since the last one, then a pause; closes a client too slow."""
    while True:
        latest = max(await watch.marks.get(), watch.take())
        if watch.overflowed.is_set():
            log.warning("live client of rollout %s fell behind; closing it", campaign_id)
            await websocket.close(SLOW_CONSUMER_CLOSE_CODE, "too slow: reconnect for a fresh snapshot")
            return
        if latest <= watch.after:
            continue  # in what was sent already
        position, body = await _read(runtime, campaign_id, latest)
        watch.after = max(watch.after, position)
        if body != sent:
            await websocket.send_json(_message("progress", campaign_id, position, body))
            sent = body
        with contextlib.suppress(TimeoutError):  # the pause that coalesces; a client fallen behind ends it
            await asyncio.wait_for(watch.overflowed.wait(), runtime.live_rollouts.interval)
