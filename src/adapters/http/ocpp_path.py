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

import re
from collections.abc import Coroutine
from typing import Any

from starlette.applications import Starlette
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

from adapters.http.request_id import RequestIdMiddleware
from adapters.ocpp.endpoint import ocpp_endpoint

OCPP_PATH = re.compile(r"/ocpp/([^/]+)")  # the route's {station_id}: one path segment, as Starlette matches it


def _session(scope: Scope, receive: Receive, send: Send) -> Coroutine[Any, Any, None]:
    return ocpp_endpoint(WebSocket(scope, receive=receive, send=send))


_OCPP_SESSION = RequestIdMiddleware(_session)


class CloudBayApp(Starlette):
    """Starlette, but a charger's WebSocket is handed to ``ocpp_endpoint`` without Starlette's layers."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A coroutine function (servers tell ASGI 3 apps by it): its one frame is all a charger's keeps."""
        if scope["type"] == "websocket":
            root = scope.get("root_path", "")
            path: str = scope["path"]
            found = OCPP_PATH.fullmatch(path[len(root) :] if root and path.startswith(root) else path)
            if found is not None:
                scope["app"] = self
                scope["path_params"] = {"station_id": found[1]}
                return await _OCPP_SESSION(scope, receive, send)
        return await super().__call__(scope, receive, send)
