"""OCPP-J (OCPP 2.0.1 Part 4) RPC layer of one charger connection: framing, routing and call correlation.

Owned here (the ``ocpp`` library gives the message dataclasses, enums, schemas and exceptions):
* every broken frame is answered as the spec says (``RpcFrameworkError`` for bad JSON, non-arrays, bad ids
  and short CALLs, id ``"-1"`` when it is unreadable; ``MessageTypeNotSupported``; ``NotImplemented`` for a
  non-2.0.1 action vs ``NotSupported`` for one without a handler; schema violations with the 2.0.1 codes);
* every frame is bounded before a handler sees it (``rpc_limits``): size, nesting depth, samples, integers;
* a resent CALL id gets the earlier answer replayed, handlers not re-run, unless that answer was an
  ``InternalError`` (a transient failure of ours): such a resend is handled again;
* our own CALLs: one outstanding per connection, matched by id; an answer that cannot be used fails the CALL
  at once (``rpc_answers``);
* ``start()`` reads in one task and routes answers at once; the charger's CALLs are handled in arrival order
  by a worker fed through a small bounded queue, so a handler may ``await self.call(...)`` without
  deadlocking and a flooding charger only makes the reader wait.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections import OrderedDict
from typing import Any, ClassVar

from ocpp.exceptions import OCPPError
from ocpp.v201 import call as calls

from adapters.log_context import message_id_var
from adapters.ocpp import rpc_schema as schema
from adapters.ocpp.inbox import Inbox
from adapters.ocpp.routing import Route as _Route
from adapters.ocpp.routing import after as after  # re-exported
from adapters.ocpp.routing import collect_routes as _collect_routes
from adapters.ocpp.routing import handles as handles  # re-exported
from adapters.ocpp.routing import invoke as _invoke
from adapters.ocpp.routing import run_after as _run_after
from adapters.ocpp.rpc_answers import read_answer, route_answer, route_unparsed
from adapters.ocpp.rpc_limits import Limits, check_counts, integers, shallow, too_deep
from adapters.ocpp.rpc_schema import CALL, CALLERROR, CALLRESULT, MAX_CAUSE, RpcError, readable_id
from adapters.ocpp.rpc_schema import OCPP201_ERROR_CODES as OCPP201_ERROR_CODES  # re-exported
from adapters.ocpp.rpc_types import CallErrorReceived as CallErrorReceived  # re-exported
from adapters.ocpp.rpc_types import Connection, ConnectionLost
from adapters.ocpp.rpc_types import MalformedAnswer as MalformedAnswer  # re-exported

LOGGER = logging.getLogger("cloudbay.ocpp")
INBOX_SIZE = 4  # CALLs read but not yet handled; the spec allows one, a flooding charger waits for room
_NOT_JSON, _TOO_BIG = object(), object()
_snake_case = schema.snake_case  # kept under its old name: a test compares it with the library's translation


class RpcConnection:
    """The CSMS side of one charger connection; subclasses declare handlers with ``@handles``/``@after``."""

    #: Re-validate outgoing CallResults against the response schema (tests only).
    validate_responses: ClassVar[bool] = False
    #: How many answered CALL ids are remembered for duplicate replay. A charger has one CALL outstanding at a
    #: time (OCPP-J), so what it resends is its latest; a few cover a resend racing the next CALL. Kept per
    #: connection for its whole life: 32 heartbeat answers with UUID message ids hold ~9 KiB, 4 about 1.2 KiB.
    answer_cache_size: ClassVar[int] = 4
    _on_routes: ClassVar[dict[str, _Route]] = {}
    _after_routes: ClassVar[dict[str, _Route]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Collect the handlers once per class and read their schemas now, not while a charger waits."""
        super().__init_subclass__(**kwargs)
        cls._on_routes, cls._after_routes = _collect_routes(cls)
        for action, route in cls._on_routes.items():
            if not route.skip_schema_validation:
                schema.warm_up(CALL, action)
                if cls.validate_responses:
                    schema.warm_up(CALLRESULT, action)

    def __init__(self, station_id: str, connection: Connection, limits: Limits | None = None) -> None:
        self.id, self.limits = station_id, limits or Limits()
        self._connection = connection
        self._answers: OrderedDict[str, str] = OrderedDict()
        self._after_tasks: set[asyncio.Task[None]] = set()
        self._call_lock = asyncio.Lock()
        self._pending: tuple[str, asyncio.Future[list[Any]]] | None = None
        self._inbox: Inbox[Any] | None = None
        self._closed = False

    async def on_frame_error(self, code: str, message_id: str) -> None:
        """Hook awaited after the RPC layer itself answered with a CALLERROR."""

    def observe_call(self, action: str | None, result: str, seconds: float) -> None:
        """Hook: a frame answered (``accepted`` or the CALLERROR code); ``action`` as sent, None if unreadable."""

    # --- the connection's life --------------------------------------------------------------------

    async def start(self) -> None:
        """Serve the connection until ``recv()`` raises, then clean up and re-raise that exception."""
        if self._inbox is not None or self._closed:
            raise RuntimeError(f"connection of {self.id} was already started")
        self._inbox = Inbox(INBOX_SIZE)
        worker = asyncio.create_task(self._work(self._inbox), name=f"ocpp-worker-{self.id}")
        reader = asyncio.create_task(self._read(), name=f"ocpp-reader-{self.id}")
        try:
            done, _ = await asyncio.wait((reader, worker), return_when=asyncio.FIRST_COMPLETED)
            error = (reader if reader in done else worker).exception()
        finally:
            await self._close(reader, worker)
        if error is not None:
            raise error

    async def _read(self) -> None:
        while True:
            await self.route_message(await self._connection.recv())

    async def _work(self, inbox: Inbox[Any]) -> None:
        """Handle the charger's CALLs strictly one after another, in the order they arrived."""
        while True:
            await self._serve(*await inbox.get())

    async def _close(self, *tasks: asyncio.Task[None]) -> None:
        """Fail our outstanding CALL, stop the reader, the worker and the after-handlers, and wait for them."""
        self._closed, self._inbox = True, None
        if self._pending is not None and not self._pending[1].done():
            self._pending[1].set_exception(ConnectionLost(f"connection of {self.id} ended"))
        everything = [*tasks, *self._after_tasks]
        for task in everything:
            task.cancel()
        await asyncio.gather(*everything, return_exceptions=True)

    # --- frames from the charger ------------------------------------------------------------------

    async def route_message(self, raw: str | bytes) -> None:
        """Take one frame: answers to our CALLs are routed at once, anything else is answered (never raises
        on bad input). While ``start()`` runs, that is the worker's job; otherwise it is done before returning.
        """
        decoded: Any
        try:  # len() counts characters, at most the bytes the server's own frame limit counts
            decoded = _TOO_BIG if len(raw) > self.limits.max_frame else schema.loads(raw)
        except (ValueError, RecursionError):
            decoded = _NOT_JSON
        if decoded is _TOO_BIG or decoded is _NOT_JSON:
            problem = "not valid JSON" if decoded is _NOT_JSON else f"over {self.limits.max_frame} bytes"
            if route_unparsed(self.id, self._pending, raw, problem):
                return None  # the answer to our CALL, unreadable: that CALL fails; a response is never answered
        if schema.is_response(decoded):
            return self._route_response(decoded)
        item = (decoded, shallow(raw, self.limits.max_depth))
        if self._inbox is not None:
            return await self._inbox.put(item)
        await self._serve(*item)

    async def _serve(self, decoded: Any, shallow: bool = False) -> None:
        """Answer a frame with its message id in the log context, then tell ``observe_call`` how it went."""
        started = time.perf_counter()
        token = message_id_var.set(readable_id(decoded) if isinstance(decoded, list) else None)
        try:
            outcome = await self._answer(decoded, shallow)
        finally:
            message_id_var.reset(token)
        try:
            if outcome is not None:  # None: a duplicate, answered from the cache
                self.observe_call(*outcome, time.perf_counter() - started)
        except Exception:
            LOGGER.exception("%s: observe_call hook failed", self.id)

    async def _answer(self, decoded: Any, shallow: bool = False) -> tuple[str | None, str] | None:
        """Answer a frame that is not a response (exactly one frame sent): its action and result."""
        if decoded is _NOT_JSON or decoded is _TOO_BIG:
            cause = "Message is not valid JSON" if decoded is _NOT_JSON else f"Frame over {self.limits.max_frame} bytes"
            return None, await self._frame_error(schema.UNKNOWN_ID, "RpcFrameworkError", cause)
        if not isinstance(decoded, list) or not decoded:
            cause = "Message is not a non-empty JSON array"
            return None, await self._frame_error(schema.UNKNOWN_ID, "RpcFrameworkError", cause)
        uid, kind = readable_id(decoded), decoded[0]
        if type(kind) is not int or kind != CALL:
            cause = f"Message type {kind!r} is not supported"[:MAX_CAUSE]
            answer_id = schema.UNKNOWN_ID if uid is None else uid
            return None, await self._frame_error(answer_id, "MessageTypeNotSupported", cause)
        if uid is None:
            cause = f"Message id must be a string of at most {schema.MAX_ID_LENGTH} characters"
            return None, await self._frame_error(schema.UNKNOWN_ID, "RpcFrameworkError", cause)
        if len(decoded) != 4 or not isinstance(decoded[2], str):
            return None, await self._frame_error(uid, "RpcFrameworkError", "CALL must be [2, id, action, payload]")
        if not shallow and too_deep(decoded, self.limits.max_depth):
            cause = f"Message is nested deeper than {self.limits.max_depth} levels"
            return decoded[2], await self._frame_error(uid, "FormatViolation", cause)
        cached = self._answers.get(uid)
        if cached is not None:
            LOGGER.info("%s: duplicate CALL %r, replaying the earlier answer", self.id, uid)
            await self._connection.send(cached)
            return None  # not handled again: not observed
        return decoded[2], await self._handle_call(uid, decoded[2], decoded[3])

    async def _frame_error(self, uid: str, code: str, cause: str, remember: bool = False) -> str:
        LOGGER.warning("%s: answering %s to message %r: %r", self.id, code, uid, cause[:MAX_CAUSE])
        answer = schema.dumps([CALLERROR, uid, code, schema.DESCRIPTIONS[code], {"cause": cause[:MAX_CAUSE]}])
        if remember:
            self._remember(uid, answer)
        await self._connection.send(answer)
        try:
            await self.on_frame_error(code, uid)
        except Exception:
            LOGGER.exception("%s: on_frame_error hook failed", self.id)
        return code

    def _remember(self, uid: str, answer: str) -> None:
        self._answers[uid] = answer
        self._answers.move_to_end(uid)
        while len(self._answers) > self.answer_cache_size:
            self._answers.popitem(last=False)

    def _checked_route(self, action: str, payload: Any) -> tuple[_Route, dict[str, Any]]:
        """The handler of a CALL the RPC layer accepts and its payload; ``RpcError`` with the spec's code otherwise."""
        if action not in schema.ACTIONS:
            raise RpcError("NotImplemented", f"{action} is not an OCPP {schema.OCPP_VERSION} action")
        route = self._on_routes.get(action)
        if route is None:
            raise RpcError("NotSupported", f"{action} is not supported by this CSMS")
        if not isinstance(payload, dict):
            raise RpcError("FormatViolation", "Payload must be a JSON object")
        check_counts(action, payload, self.limits.max_samples)
        if not route.skip_schema_validation:
            schema.validate(CALL, action, payload)
            payload = integers(payload, action)
        return route, payload

    async def _handle_call(self, uid: str, action: str, payload: Any) -> str:
        try:
            route, payload = self._checked_route(action, payload)
        except RpcError as exc:
            return await self._frame_error(uid, exc.code, exc.cause, remember=True)
        answer, kwargs, result = await self._run_handler(route, action, uid, payload)
        if result != "InternalError":  # a transient failure of ours: the charger's resend is handled again
            self._remember(uid, answer)
        await self._connection.send(answer)
        after_route = self._after_routes.get(action)
        if kwargs is not None and after_route is not None:
            task = asyncio.create_task(_run_after(self, after_route, action, kwargs, uid))
            self._after_tasks.add(task)
            task.add_done_callback(self._after_tasks.discard)
        return result

    async def _run_handler(
        self, route: _Route, action: str, uid: str, payload: dict[str, Any]
    ) -> tuple[str, dict[str, Any] | None, str]:
        """The answer frame, the handler's kwargs if it succeeded (for the after-handler), the result."""
        try:
            kwargs = schema.snake_case(payload)
            result = _invoke(self, route, kwargs, uid)
            if inspect.isawaitable(result):
                result = await result
            check = self.validate_responses and not route.skip_schema_validation
            return schema.dumps([CALLRESULT, uid, schema.answer_payload(action, result, check)]), kwargs, "accepted"
        except OCPPError as exc:
            code = schema.answerable_code(getattr(exc, "code", "GenericError"))
            LOGGER.warning("%s: handler for %s answered %s", self.id, action, code)
            description = exc.description if isinstance(exc.description, str) else ""
            return schema.dumps([CALLERROR, uid, code, description, schema.json_details(exc.details)]), None, code
        except Exception:  # logged with its traceback here; the charger learns nothing of our internals
            LOGGER.exception("%s: handler for %s (message %r) failed", self.id, action, uid)
            frame = [CALLERROR, uid, "InternalError", schema.DESCRIPTIONS["InternalError"], {}]
            return schema.dumps(frame), None, "InternalError"

    def _route_response(self, frame: list[Any]) -> None:
        """Hand an answer to the CALL waiting for it (``rpc_answers.route_answer``); never answered."""
        route_answer(self.id, self._pending, frame, self.limits.max_depth)

    # --- our CALLs to the charger -----------------------------------------------------------------

    async def call(self, payload: Any, timeout: float) -> Any:
        """Send an ``ocpp.v201.call`` message and return the charger's ``ocpp.v201.call_result`` answer.

        ``timeout`` bounds the whole call, waiting for an earlier CALL included. Raises ``TimeoutError``,
        ``CallErrorReceived``, ``MalformedAnswer`` or ``ConnectionLost``.
        """
        action = type(payload).__name__
        if action not in schema.ACTIONS or type(payload) is not getattr(calls, action, None):
            raise TypeError(f"{action} is not an OCPP {schema.OCPP_VERSION} call payload")
        body = schema.wire_payload(payload)
        async with asyncio.timeout(timeout):
            async with self._call_lock:  # one outstanding CALL per connection (Part 4)
                frame = await self._exchange(action, body)
        return read_answer(self.id, action, frame)

    async def _exchange(self, action: str, body: dict[str, Any]) -> list[Any]:
        if self._closed:
            raise ConnectionLost(f"connection of {self.id} is closed")
        uid = str(uuid.uuid4())
        text = schema.dumps([CALL, uid, action, body])
        answer: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending = (uid, answer)
        try:
            try:
                await self._connection.send(text)
            except Exception as exc:
                raise ConnectionLost(f"could not send {action} to {self.id}: {type(exc).__name__}") from exc
            return await answer
        finally:
            self._pending = None
            if answer.done() and not answer.cancelled():
                answer.exception()  # retrieved: the loop must not log a ConnectionLost nobody awaited
