"""The OCPP 2.0.1 WebSocket endpoint ``/ocpp/{stationId}`` and the registry of open sessions.

Upgrade policy, decided before any OCPP message:
- the station id must be whitelisted (else HTTP 404),
- the client must offer the ``ocpp2.0.1`` sub-protocol (else HTTP 400),
- the connection must meet the charger's security profile (``admission``: else 401, 403 or 429),
- a second connection with the same station id wins: the older session is closed (code 4000) and
  the charger's ``Connected`` event names the session it replaced.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import TYPE_CHECKING, Any

from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.log_context import station_id_var
from adapters.ocpp.admission import Refused, check_profile
from adapters.ocpp.station import StationSession
from cloudbay_domain.charger import InvalidStationId, check_station_id
from services.platform import StoreUnavailable

if TYPE_CHECKING:
    from adapters.wiring import Runtime

log = logging.getLogger("cloudbay.ocpp")

SUBPROTOCOL = "ocpp2.0.1"
RETRY_AFTER_S = (5, 15)  # a refusal for a busy store says when to come back, spread so a storm does not return at once
ADMISSION_WAIT_S = 30.0  # a connection waits at most this long for its turn to be admitted
DISCONNECT_TIMEOUT = 3.0  # a disconnect write waits at most this long (serve's SIGTERM exits within 10 s)


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


def retry_later() -> dict[str, str]:
    return {"Retry-After": str(random.randint(*RETRY_AFTER_S))}


async def refuse(websocket: WebSocket, refusal: Refused) -> None:
    client = websocket.client.host if websocket.client else "?"
    log.warning("refused OCPP connection from %s to %s: %s", client, websocket.url.path, refusal.reason)
    response = PlainTextResponse(refusal.reason + "\n", status_code=refusal.status, headers=refusal.headers)
    await websocket.send_denial_response(response)


async def _admit(websocket: WebSocket, runtime: Runtime) -> StationSession:
    """The upgrade policy, decided before any OCPP message; the connection is recorded before it completes,
    so a session the platform could not record is never opened."""
    station_id, platform = websocket.path_params["station_id"], runtime.platform
    try:
        check_station_id(station_id)
    except InvalidStationId as e:
        raise Refused(400, str(e)) from None
    # every line of this connection from here on, its session's tasks included (they inherit the context)
    station_id_var.set(station_id)
    if SUBPROTOCOL not in websocket.scope.get("subprotocols", []):
        raise Refused(400, f"the {SUBPROTOCOL} WebSocket sub-protocol is required")
    try:
        config = await platform.run(platform.security.admission, station_id)
    except Exception as e:  # the charger retries later, as for the connection's record below
        if isinstance(e, StoreUnavailable):  # away or overwhelmed (a boot storm): expected, no traceback
            log.warning("could not check the admission of %s: %s", station_id, e)
        else:
            log.exception("could not check the admission of %s", station_id)
        raise Refused(503, "the platform cannot admit this connection now; retry later", retry_later()) from None
    if config is None:
        raise Refused(404, f"station {station_id} is not whitelisted")
    await check_profile(websocket, runtime, config)  # the security profile (adapters/ocpp/admission.py)
    session = StationSession(
        station_id,
        StarletteConnection(websocket),
        platform=platform,
        session_id=uuid.uuid4().hex,
        heartbeat_interval=runtime.settings.heartbeat_interval,
        data_transfer_handlers=runtime.data_transfer_handlers,
        call_observer=runtime.metrics.observe_ocpp,
        limits=runtime.ocpp_limits,
    )
    runtime.presence.opening(station_id, session.session_id)  # before it is recorded: no sweep closes it
    try:
        await platform.run(platform.chargers.connected, station_id, session.session_id, runtime.settings.node)
    except Exception:
        runtime.presence.closed(session.session_id)
        log.exception("could not record the connection of %s", station_id)
        raise Refused(503, "the platform cannot record this connection now; retry later", retry_later()) from None
    return session


async def _admit_in_turn(websocket: WebSocket, runtime: Runtime) -> StationSession:
    """``_admit``, at most ``ADMISSIONS`` at once. In a boot storm the others wait here, in arrival order, each
    at most ``ADMISSION_WAIT_S`` (then 503, retry later): were every one admitted at once, each would queue its
    store calls behind everybody else's and all would time out together."""
    try:
        await asyncio.wait_for(runtime.admissions.acquire(), ADMISSION_WAIT_S)
    except TimeoutError:
        raise Refused(503, "too many chargers are connecting; retry later", retry_later()) from None
    try:
        return await _admit(websocket, runtime)
    finally:
        runtime.admissions.release()


async def ocpp_endpoint(websocket: WebSocket) -> None:
    runtime: Runtime = websocket.app.state.runtime
    try:
        session = await _admit_in_turn(websocket, runtime)
    except Refused as refusal:
        return await refuse(websocket, refusal)
    reason = "server shutting down"  # unless the session ends by itself (then _serve says why)
    try:
        reason = await _serve(websocket, runtime, session)
    finally:
        runtime.link.remove(session)
        await asyncio.shield(_record_disconnect(runtime, session.id, session.session_id, reason))
        runtime.presence.closed(session.session_id)  # unrecorded (store away)? the sweeper records it later
        log.info("station %s disconnected (%s)", session.id, reason)


async def _serve(websocket: WebSocket, runtime: Runtime, session: StationSession) -> str:
    """Run the session until it ends; returns why it ended (recorded with the disconnect)."""
    try:
        await websocket.accept(subprotocol=SUBPROTOCOL)
        await runtime.link.replace(session, websocket)
        log.info("station %s connected (session %s)", session.id, session.session_id)
        await session.start()
    except WebSocketDisconnect as e:
        return f"closed by charger (code {e.code})"
    except Exception as e:  # the session ends; the charger will reconnect
        log.exception("station %s session failed", session.id)
        return f"error: {type(e).__name__}"
    return "closed"


async def _record_disconnect(runtime: Runtime, station_id: str, session_id: str, reason: str) -> Any:
    try:
        platform, bound = runtime.platform, min(runtime.settings.store_timeout, DISCONNECT_TIMEOUT)
        return await platform.run_within(bound, platform.chargers.disconnected, station_id, session_id, reason)
    except Exception as e:  # bounded (CLOUDBAY_STORE_TIMEOUT): the node's next start or a sweeper records it
        log.error("could not record the disconnect of %s (session %s): %s", station_id, session_id, e)
        return None
