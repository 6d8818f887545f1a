"""The OCPP 2.0.1 WebSocket endpoint ``/ocpp/{stationId}`` and the registry of open sessions.

Upgrade policy, decided before any OCPP message:
- the station id must be whitelisted (else HTTP 404),
- the client must offer the ``ocpp2.0.1`` sub-protocol (else HTTP 400),
- a second connection with the same station id wins: the older session is closed (code 4000) and
  the charger's ``Connected`` event names the session it replaced.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.ocpp.station import StationSession
from cloudbay_domain.charger import InvalidStationId, check_station_id

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.ocpp")

SUBPROTOCOL = "ocpp2.0.1"


class StarletteConnection:
    """What the ``ocpp`` ChargePoint needs from a connection: ``recv()`` and ``send()``."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def recv(self) -> str:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if message.get("text") is not None:
            return str(message["text"])
        # OCPP-J uses text frames; a binary frame is decoded and judged by the RPC layer.
        return bytes(message.get("bytes") or b"").decode("utf-8", errors="replace")

    async def send(self, text: str) -> None:
        await self.websocket.send_text(text)


async def refuse(websocket: WebSocket, status: int, reason: str) -> None:
    client = websocket.client.host if websocket.client else "?"
    log.warning("refused OCPP connection from %s to %s: %s", client, websocket.url.path, reason)
    await websocket.send_denial_response(PlainTextResponse(reason + "\n", status_code=status))


async def ocpp_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    station_id = websocket.path_params["station_id"]
    try:
        check_station_id(station_id)
    except InvalidStationId as e:
        await refuse(websocket, 400, str(e))
        return
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        await refuse(websocket, 400, f"the {SUBPROTOCOL} WebSocket sub-protocol is required")
        return
    platform = runtime.platform
    if not await platform.run(platform.chargers.is_whitelisted, station_id):
        await refuse(websocket, 404, f"station {station_id} is not whitelisted")
        return

    session = StationSession(
        station_id,
        StarletteConnection(websocket),
        platform=platform,
        session_id=uuid.uuid4().hex,
        heartbeat_interval=runtime.settings.heartbeat_interval,
        data_transfer_handlers=runtime.data_transfer_handlers,
    )
    # recorded before the upgrade completes: a session the platform could not record is never opened
    try:
        await platform.run(platform.chargers.connected, station_id, session.session_id, runtime.settings.node)
    except Exception:
        log.exception("could not record the connection of %s", station_id)
        await refuse(websocket, 503, "the platform cannot record this connection now; retry later")
        return
    reason = "closed"
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await runtime.link.replace(session, websocket)
        log.info("station %s connected (session %s)", station_id, session.session_id)
        await session.start()
    except WebSocketDisconnect as e:
        reason = f"closed by charger (code {e.code})"
    except asyncio.CancelledError:
        reason = "server shutting down"
        raise
    except Exception as e:  # the session ends; the charger will reconnect
        reason = f"error: {type(e).__name__}"
        log.exception("station %s session failed", station_id)
    finally:
        runtime.link.remove(session)
        await asyncio.shield(_record_disconnect(runtime, station_id, session.session_id, reason))
        log.info("station %s disconnected (%s)", station_id, reason)


async def _record_disconnect(runtime: Runtime, station_id: str, session_id: str, reason: str) -> Any:
    try:
        return await runtime.platform.run(runtime.platform.chargers.disconnected, station_id, session_id, reason)
    except Exception:
        log.exception("could not record disconnect of %s", station_id)
        return None
