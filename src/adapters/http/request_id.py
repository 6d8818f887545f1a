"""A request id for every HTTP request and WebSocket upgrade: on its log lines and in ``X-Request-ID``.

A sane incoming ``X-Request-ID`` (a proxy's or a client's: at most 64 characters of ``[A-Za-z0-9._-]``) is
kept, anything else is replaced by a fresh uuid4 hex. The id is set in ``request_id_var`` for the rest of the
request's task (uvicorn runs each request in a task of its own, so it cannot leak to another request), and it
is added to the response's headers: the HTTP answer, a WebSocket's accept, or the HTTP answer refusing an
upgrade. A WebSocket's lines (an OCPP session's included) carry the id of their upgrade request.

Starlette answers an unhandled exception outside every user middleware (``ServerErrorMiddleware``): wrap the
``Exception`` handler with :func:`with_request_id` so the 500 answer carries the header too.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.log_context import request_id_var

HEADER = "X-Request-ID"
_HEADER_BYTES = HEADER.lower().encode()
SCOPE_KEY = "cloudbay.request_id"
_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")
_STARTS = {"http": "http.response.start", "websocket": "websocket.accept"}
_DENIAL = "websocket.http.response.start"


def request_id_from(headers: list[tuple[bytes, bytes]]) -> str:
    """The incoming ``X-Request-ID`` when it is sane, else a fresh one."""
    for name, value in headers:
        if name.lower() == b"x-request-id":
            candidate = value.decode("latin-1")
            if _SANE.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _with_header(message: Message, request_id: str) -> Message:
    """``message`` with our ``X-Request-ID`` header (replacing one the app may have set)."""
    headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != _HEADER_BYTES]
    return {**message, "headers": [*headers, (_HEADER_BYTES, request_id.encode())]}


class RequestIdMiddleware:
    """Pure ASGI middleware: sets ``request_id_var`` and echoes the id in the ``X-Request-ID`` header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """The app's own awaitable, not a coroutine of ours around it: a WebSocket's connection holds no frame
        of this middleware for its whole life (memory per charger, ``benchmarks/connection_memory.py``)."""
        if scope["type"] not in _STARTS:
            return self.app(scope, receive, send)
        request_id = request_id_from(list(scope.get("headers", [])))
        scope[SCOPE_KEY] = request_id
        request_id_var.set(request_id)  # not reset: the error handler and uvicorn's access line still need it
        starts = (_STARTS[scope["type"]], _DENIAL)

        async def send_with_id(message: Message) -> None:
            await send(_with_header(message, request_id) if message["type"] in starts else message)

        return self.app(scope, receive, send_with_id)


Handler = Callable[[Request, Exception], Awaitable[Response]]


def with_request_id(handler: Handler) -> Handler:
    """``handler`` answering with the request's ``X-Request-ID`` (for the handler Starlette runs outside us)."""

    async def answer(request: Request, exc: Exception) -> Response:
        request_id = request.scope.get(SCOPE_KEY)
        if request_id:
            request_id_var.set(request_id)
        response = await handler(request, exc)
        if request_id:
            response.headers[HEADER] = request_id
        return response

    return answer
