"""The app, with the chargers' WebSocket taken straight to its endpoint.

A charger's connection lives for days. Through Starlette's stack it keeps one suspended coroutine per layer
for all that time (the app, the error and exception middlewares, the router, the route, the session wrapper
and its exception handling), with their closures: about a fifth of a node's memory per idle charger
(``benchmarks/connection_memory.py``). ``/ocpp/{stationId}`` WebSockets therefore go from the app straight
to ``ocpp_endpoint``, through the request-id middleware only (the other middlewares pass WebSockets through
unchanged). Everything else, the other WebSocket routes included, takes Starlette's way. The route stays in
the router too, for its documentation.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Match, WebSocketRoute
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from adapters.http.request_id import RequestIdMiddleware
from adapters.ocpp.endpoint import ocpp_endpoint

OCPP_ROUTE = WebSocketRoute("/ocpp/{station_id}", ocpp_endpoint)  # in the router too (``app_routes``)


def _session(scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
    return ocpp_endpoint(WebSocket(scope, receive=receive, send=send))


_OCPP_SESSION = RequestIdMiddleware(_session)


class CloudBayApp(Starlette):
    """Starlette, but a charger's WebSocket is handed to ``ocpp_endpoint`` without Starlette's layers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A coroutine function (servers tell ASGI 3 apps by it): its one frame is all a charger's keeps."""
        if scope["type"] == "websocket":
            match, child = OCPP_ROUTE.matches(scope)  # the route's own matching, as the router would
            if match is Match.FULL:
                scope["app"] = self
                scope.update(child)
                return await _OCPP_SESSION(scope, receive, send)
        return await super().__call__(scope, receive, send)
