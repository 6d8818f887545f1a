"""HTTP request metrics (a pure ASGI middleware) and the ``GET /metrics`` route that serves every metric.

Requests are counted by route template (``/api/v1/chargers/{station_id}``, the route Starlette matched), never
by raw path: a path no route matches is ``other``. WebSockets (OCPP sessions, the live feed) are not HTTP
requests here: OCPP traffic has its own metrics.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.openapi import Doc, api_route
from adapters.metrics import CONTENT_TYPE_LATEST, OTHER, Metrics


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (set by Starlette's router), else ``other``."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else OTHER


def _metrics_of(scope: Scope) -> Metrics | None:
    app: Any = scope.get("app")
    runtime = getattr(getattr(app, "state", None), "runtime", None)
    metrics = getattr(runtime, "metrics", None)
    return metrics if isinstance(metrics, Metrics) else None


class MetricsMiddleware:
    """Counts every HTTP request by route template, method and status, and times it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """Anything but HTTP goes straight to the app: no frame of ours is held while a WebSocket lives."""
        return self._http(scope, receive, send) if scope["type"] == "http" else self.app(scope, receive, send)

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started, status = time.perf_counter(), 500  # an exception before the answer is a 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            metrics = _metrics_of(scope)
            if metrics is not None:
                metrics.observe_http(route_template(scope), scope["method"], status, time.perf_counter() - started)


async def metrics_endpoint(request: Request) -> Response:
    """Every metric in the Prometheus text format; unauthenticated. Answers within seconds in a store outage."""
    metrics: Metrics = request.app.state.runtime.metrics
    body = await run_in_threadpool(metrics.exposition)  # the store read may wait up to its timeout
    return Response(body, media_type=CONTENT_TYPE_LATEST)


METRICS_DOC = Doc(
    operation_id="getMetrics",
    summary="Every metric of this node, in the Prometheus text format",
    tag="operations",
    responses={200: None},
    secured=False,
    media="text/plain",
    description="See docs/operations.md for the metric names, a scrape configuration and alerts.",
)
routes = [api_route("GET", "/metrics", metrics_endpoint, METRICS_DOC)]
