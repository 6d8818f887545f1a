"""The request id middleware: a sane incoming X-Request-ID is kept, anything else replaced; every answer carries
it (404s, problem+json errors, 500s, WebSocket accepts and refusals) and so do the request's log lines."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ASGIApp, Message
from starlette.websockets import WebSocket

from adapters.http.request_id import RequestIdMiddleware, request_id_from, with_request_id
from adapters.log_context import request_id_var

FRESH = re.compile(r"[0-9a-f]{32}")
log = logging.getLogger("cloudbay.test.request_id")


async def seen(request: Request) -> Response:
    log.info("handling")
    return JSONResponse({"request_id": request_id_var.get()})


async def failing(request: Request) -> Response:
    raise RuntimeError("boom")


async def problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return JSONResponse({"status": exc.status_code}, status_code=exc.status_code, media_type="application/problem+json")


async def server_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s", request.url.path)
    return JSONResponse({"status": 500}, status_code=500, media_type="application/problem+json")


async def echo_socket(websocket: WebSocket) -> None:
    if websocket.query_params.get("refuse"):
        return await websocket.send_denial_response(PlainTextResponse("no\n", status_code=403))
    await websocket.accept()
    await websocket.send_text(str(request_id_var.get()))
    await websocket.close()


@dataclass
class Answer:
    """What the app sent back: the status, the headers and the body (or the accept message's headers)."""

    messages: list[Message] = field(default_factory=list)

    @property
    def start(self) -> Message:
        starts = ("http.response.start", "websocket.accept", "websocket.http.response.start")
        return next(m for m in self.messages if m["type"] in starts)

    @property
    def status(self) -> int:
        return int(self.start.get("status", 101))

    def header(self, name: str) -> list[str]:
        return [v.decode() for k, v in self.start.get("headers", []) if k.decode().lower() == name.lower()]

    @property
    def request_id(self) -> str:
        (value,) = self.header("x-request-id")
        return value

    def body(self) -> Any:
        raw = b"".join(m.get("body", b"") for m in self.messages if m["type"].endswith("response.body"))
        return json.loads(raw)

    def texts(self) -> list[str]:
        return [m["text"] for m in self.messages if m["type"] == "websocket.send"]


def call(app: ASGIApp, path: str, request_id: str | None = None, kind: str = "http", method: str = "GET") -> Answer:
    """One request (or one WebSocket connection) to ``app``, as a server would make it."""
    headers = [] if request_id is None else [(b"x-request-id", request_id.encode("utf-8"))]
    route, _, query = path.partition("?")
    scope: dict[str, Any] = {"type": kind, "path": route, "raw_path": route.encode(), "query_string": query.encode()}
    scope.update(headers=headers, method=method, scheme="http" if kind == "http" else "ws", root_path="")
    scope.update(server=("testserver", 80), client=("127.0.0.1", 5000), http_version="1.1", asgi={"version": "3.0"})
    scope["extensions"] = {"websocket.http.response": {}}  # a server that can refuse an upgrade with an answer
    incoming = [{"type": "http.request", "body": b""}] if kind == "http" else [{"type": "websocket.connect"}]
    answer = Answer()

    async def receive() -> Message:
        if incoming:
            return incoming.pop(0)
        return {"type": "http.disconnect"} if kind == "http" else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: Message) -> None:
        answer.messages.append(message)

    async def run() -> None:
        try:
            await app(scope, receive, send)
        except RuntimeError:  # re-raised by Starlette after the 500 was sent, as a server sees it
            pass

    asyncio.run(run())
    return answer


@pytest.fixture
def app() -> ASGIApp:
    return Starlette(
        routes=[Route("/seen", seen), Route("/failing", failing), WebSocketRoute("/socket", echo_socket)],
        exception_handlers={HTTPException: problem, Exception: with_request_id(server_error)},
        middleware=[Middleware(RequestIdMiddleware)],
    )


def test_a_sane_incoming_id_is_kept_seen_by_the_handler_and_echoed(app: ASGIApp) -> None:
    answer = call(app, "/seen", "edge-proxy.4711_a-B")

    assert answer.request_id == "edge-proxy.4711_a-B"
    assert answer.body() == {"request_id": "edge-proxy.4711_a-B"}


@pytest.mark.parametrize("incoming", [None, "", "x" * 65, "has space", "semi;colon", "new\u00e9line", "a/b"])
def test_anything_else_gets_a_fresh_id(app: ASGIApp, incoming: str | None) -> None:
    answer = call(app, "/seen", incoming)

    assert FRESH.fullmatch(answer.request_id)
    assert answer.body() == {"request_id": answer.request_id}


def test_sixty_four_characters_are_sane() -> None:
    assert request_id_from([(b"x-request-id", b"a" * 64)]) == "a" * 64
    assert request_id_from([(b"X-Request-Id", b"abc")]) == "abc"


def test_each_request_gets_its_own_id(app: ASGIApp) -> None:
    ids = {call(app, "/seen").request_id for _ in range(5)}

    assert len(ids) == 5


def test_a_404_and_a_405_carry_the_id(app: ASGIApp) -> None:
    missing = call(app, "/nowhere", "r-404")
    not_allowed = call(app, "/seen", method="POST")

    assert (missing.status, missing.request_id) == (404, "r-404")
    assert not_allowed.status == 405 and FRESH.fullmatch(not_allowed.request_id)


def test_a_500_carries_the_id(app: ASGIApp) -> None:
    answer = call(app, "/failing", "r-500")

    assert (answer.status, answer.request_id) == (500, "r-500")
    assert answer.header("content-type") == ["application/problem+json"]


def test_log_lines_are_written_while_the_id_is_set_500s_included(app: ASGIApp) -> None:
    captured: list[tuple[str, str | None]] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append((record.getMessage(), request_id_var.get()))

    handler, level = Capture(), log.level
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        call(app, "/seen", "r-log")
        call(app, "/failing", "r-err")
    finally:
        log.removeHandler(handler)
        log.setLevel(level)

    assert captured == [("handling", "r-log"), ("unhandled error on /failing", "r-err")]
    assert request_id_var.get() is None  # each request ran in a context of its own


def test_a_websocket_accept_carries_the_id(app: ASGIApp) -> None:
    answer = call(app, "/socket", "ws-1", kind="websocket")

    assert (answer.status, answer.request_id, answer.texts()) == (101, "ws-1", ["ws-1"])


def test_a_refused_upgrade_carries_the_id(app: ASGIApp) -> None:
    answer = call(app, "/socket?refuse=1", "ws-2", kind="websocket")

    assert (answer.status, answer.request_id) == (403, "ws-2")


def test_an_id_the_app_set_itself_is_replaced_not_doubled() -> None:
    async def sets_its_own(request: Request) -> Response:
        return PlainTextResponse("ok", headers={"X-Request-ID": "from-the-app"})

    app = Starlette(routes=[Route("/", sets_its_own)], middleware=[Middleware(RequestIdMiddleware)])

    assert call(app, "/", "outer").header("x-request-id") == ["outer"]


def test_lifespan_passes_through() -> None:
    seen_types: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen_types.append(scope["type"])

    async def run() -> None:
        await RequestIdMiddleware(inner)({"type": "lifespan"}, _never, _never)

    asyncio.run(run())
    assert seen_types == ["lifespan"]


async def _never(*args: Any) -> Any:
    raise AssertionError("not called")
