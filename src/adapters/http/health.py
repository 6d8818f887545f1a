"""Liveness and readiness.

``/healthz`` is liveness: the process is up and serving; it touches no store, so it answers at once whatever the
database does. ``/readyz`` is readiness: it reads the event store head and each projection's position in one
worker thread and waits for that read at most ``READ_TIMEOUT`` seconds (a read stuck on an unreachable database
is not started again by later probes; they wait for the same one), then says which dependency is down.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.http import schemas

log = logging.getLogger("cloudbay")

READ_TIMEOUT = 1.5  # /readyz answers within 2 s


class BoundedStatus:
    """At most one status read in flight per node; each probe waits for it at most ``timeout`` seconds."""

    def __init__(self, status: Callable[[], dict[str, Any]], timeout: float = READ_TIMEOUT) -> None:
        """``status``: the event store head and each read model's position, lag and failure (raises if a
        store is down): ``Runtime.status``."""
        self.status, self.timeout = status, timeout
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="readiness")
        self._lock = threading.Lock()
        self._inflight: Future[dict[str, Any]] | None = None

    def read(self) -> dict[str, Any]:
        with self._lock:
            if self._inflight is None or self._inflight.done():
                self._inflight = self._executor.submit(self.status)
            inflight = self._inflight
        try:
            return inflight.result(timeout=self.timeout)
        except TimeoutError:
            return {"store": "down", "error": f"the stores did not answer within {self.timeout:g} s"}
        except Exception as e:
            return {"store": "down", "error": f"{type(e).__name__}: {e}"}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


async def healthz(request: Request) -> Response:
    """Liveness: no store is asked."""
    return JSONResponse(schemas.Health.shape({"status": "ok"}))


async def readyz(request: Request) -> Response:
    checks = await request.app.state.runtime.readiness_read()
    checks["projector"] = request.app.state.runtime.projector_state()
    models = checks.get("read_models") or {}
    failed = any(r["failure"] for r in models.values())
    ok = "error" not in checks and not failed and checks["projector"] != "down"
    checks.setdefault("store", "up")
    body = schemas.Health.shape({"status": "ready" if ok else "not ready", **checks})
    return JSONResponse(body, status_code=200 if ok else 503)
