"""What the live feeds share: the token of an upgrade, a refused upgrade, and serving a connection until the
client leaves or its pusher ends (``adapters.http.live``, ``adapters.http.live_rollouts``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.auth import bearer_token
from adapters.http.problems import Problem


def token_of(websocket: WebSocket) -> str:
    """The bearer token: the ``Authorization`` header's, else the ``access_token`` query parameter (browsers)."""
    token = websocket.query_params.get("access_token")
    if token and "authorization" not in websocket.headers:
        return token
    return bearer_token(websocket.headers)  # the header's token, or the 401 Problem


async def refuse(websocket: WebSocket, problem: Problem) -> None:
    """Answer the upgrade with the Problem (problem+json) instead of accepting it."""
    await websocket.send_denial_response(problem.response(websocket.url.path))


async def serve(websocket: WebSocket, push: Coroutine[Any, Any, None]) -> None:
    """Run ``push`` until the client leaves, or until ``push`` ends (it closed a client that is too slow)."""
    tasks = {asyncio.create_task(until_closed(websocket)), asyncio.create_task(push)}
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for task in done:
        with contextlib.suppress(WebSocketDisconnect, OSError):  # the client left while we were sending
            task.result()


async def until_closed(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass
