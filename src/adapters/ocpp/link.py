"""The in-process ``ChargerLink``: requests go to the sessions this node holds, one at a time per charger."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

from adapters.ocpp.requests import to_call
from adapters.ocpp.rpc import CallErrorReceived, ConnectionLost, MalformedAnswer
from services.ports import CallFailed, CallTimedOut, ChargerOffline, ChargerRequest

log = logging.getLogger("cloudbay.ocpp")

A = TypeVar("A")
REPLACED_CLOSE_CODE = 4000
#: Told of every CSMS-initiated call: its OCPP action, its outcome (accepted, rejected, timeout, offline or the
#: CALLERROR code) and how long it took.
RequestObserver = Callable[[str, str, float], None]


class Session(Protocol):
    id: str
    session_id: str
    last_seen: datetime

    async def call(self, payload: Any, timeout: float) -> Any: ...


class Closable(Protocol):
    async def close(self, code: int = 1000, reason: str | None = None) -> None: ...


class SessionLink:
    """Open sessions on this node, by station id; implements the port over them."""

    def __init__(self, call_timeout: float) -> None:
        self.call_timeout = call_timeout
        self.sessions: dict[str, tuple[Session, Closable]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.observer: RequestObserver | None = None  # set by the wiring (metrics)

    def get(self, station_id: str) -> Session | None:
        entry = self.sessions.get(station_id)
        return entry[0] if entry else None

    async def replace(self, session: Session, websocket: Closable) -> None:
        """A second connection with the same station id wins: the older one is closed (code 4000)."""
        older = self.sessions.get(session.id)
        self.sessions[session.id] = (session, websocket)
        if older is not None:
            log.warning("station %s reconnected: closing its older session %s", session.id, older[0].session_id)
            with contextlib.suppress(Exception):
                await older[1].close(code=REPLACED_CLOSE_CODE, reason="replaced by a newer connection")

    def remove(self, session: Session) -> None:
        entry = self.sessions.get(session.id)
        if entry is not None and entry[0] is session:
            del self.sessions[session.id]

    # --- the port ----------------------------------------------------------------------------

    def is_reachable(self, station_id: str) -> bool:
        return station_id in self.sessions

    def reachable_stations(self) -> list[str]:
        return list(self.sessions)

    async def request(self, station_id: str, request: ChargerRequest[A], timeout: float | None = None) -> A:
        payload, read = to_call(request)
        name, started, outcome = type(payload).__name__, time.perf_counter(), "error"
        try:
            answer: A = await self._request(station_id, payload, read, timeout)
            status = getattr(answer, "status", "Accepted")  # an answer without a status (a version) is accepted
            outcome = "accepted" if str(status) == "Accepted" else "rejected"
            return answer
        except CallTimedOut:
            outcome = "timeout"
            raise
        except ChargerOffline:
            outcome = "offline"
            raise
        except CallFailed as e:
            outcome = e.reason
            raise
        finally:
            self._observe(name, outcome, time.perf_counter() - started)

    def _observe(self, action: str, outcome: str, seconds: float) -> None:
        if self.observer is not None:
            try:
                self.observer(action, outcome, seconds)
            except Exception:
                log.exception("request observer failed")

    async def _request(self, station_id: str, payload: Any, read: Callable[[Any], Any], timeout: float | None) -> Any:
        name = type(payload).__name__
        async with self._locks.setdefault(station_id, asyncio.Lock()):  # one outstanding request per charger
            session = self.get(station_id)
            if session is None:
                raise ChargerOffline(f"charger {station_id} is offline")
            try:
                result = await session.call(payload, timeout or self.call_timeout)
            except TimeoutError:
                raise CallTimedOut(f"charger {station_id} did not answer {name} in time") from None
            except CallErrorReceived as e:
                raise CallFailed(e.code, f"charger {station_id} answered an error: {e.code}") from None
            except MalformedAnswer as e:
                raise CallFailed("FormatViolation", f"charger {station_id} answered {name} malformed: {e}") from None
            except ConnectionLost:
                raise ChargerOffline(f"charger {station_id} went offline during {name}") from None
        try:
            return read(result)
        except (LookupError, TypeError, ValueError, AttributeError) as e:  # valid, yet not the answer we can use
            raise CallFailed("FormatViolation", f"charger {station_id} answered {name} unreadably: {e}") from None
