"""OCPP-J (OCPP 2.0.1 Part 4) RPC layer that answers exactly what the spec says.

``ocpp.v201.ChargePoint`` routes ``@on``/``@after`` handlers and runs ``call()``
well, and those stay; its ``route_message``/``_handle_call`` are replaced because:

* it silently drops broken frames; here bad JSON, non-arrays, bad ids and short
  CALLs get ``RpcFrameworkError``, unknown type numbers ``MessageTypeNotSupported``
  (id ``"-1"`` when the frame's id is unreadable);
* it swaps ``NotImplemented`` (not an OCPP 2.0.1 action) and ``NotSupported``
  (no handler here);
* its schema errors use wrong codes (``ProtocolError`` for a missing property,
  the 1.6 spelling ``OccurenceConstraintViolation``), validate in a thread pool,
  re-validate every response (here only if ``validate_responses``) and may put
  message objects into error details (here: JSON only, no exception text);
* chargers resend a CALL whose answer they lost: the last answers are kept per
  connection and replayed without running the handler a second time;
* unsolicited or malformed CALLRESULT/CALLERROR frames are logged and dropped
  (a response is never answered and the response queue cannot grow).

``route_message`` is meant to be awaited sequentially per connection, as the
library's ``start()`` loop does.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import is_dataclass
from typing import Any, ClassVar

import fastjsonschema
from jsonschema.exceptions import best_match
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult, MessageType, get_validator
from ocpp.v201 import ChargePoint
from ocpp.v201.enums import Action

LOGGER = logging.getLogger("cloudbay.ocpp")

OCPP_VERSION = "2.0.1"
MAX_ID_LENGTH = 36
UNKNOWN_ID = "-1"
OCPP201_ERROR_CODES: frozenset[str] = frozenset(
    {
        "FormatViolation",
        "GenericError",
        "InternalError",
        "MessageTypeNotSupported",
        "NotImplemented",
        "NotSupported",
        "OccurrenceConstraintViolation",
        "PropertyConstraintViolation",
        "ProtocolError",
        "RpcFrameworkError",
        "SecurityError",
        "TypeConstraintViolation",
    }
)
_LEGACY_CODES = {
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    "FormationViolation": "FormatViolation",
}
_DESCRIPTIONS = {
    "RpcFrameworkError": "Message is not a valid OCPP-J RPC frame",
    "MessageTypeNotSupported": "Message type number is not supported",
    "NotImplemented": "Requested action is not known by the receiver",
    "NotSupported": "Requested action is recognised but not supported by the receiver",
    "FormatViolation": "Payload is syntactically incorrect or does not match the action's structure",
    "OccurrenceConstraintViolation": "Payload violates occurrence constraints",
    "TypeConstraintViolation": "Payload violates data type constraints",
    "PropertyConstraintViolation": "Payload contains a field with an invalid value",
    "InternalError": "An internal error occurred while processing the request",
}
_SCHEMA_CODES = {
    "required": "OccurrenceConstraintViolation",
    "minItems": "OccurrenceConstraintViolation",
    "maxItems": "OccurrenceConstraintViolation",
    "additionalProperties": "FormatViolation",
    "type": "TypeConstraintViolation",
    "maxLength": "TypeConstraintViolation",
    **dict.fromkeys(
        (
            "enum",
            "const",
            "minimum",
            "maximum",
            "exclusiveMinimum",
            "exclusiveMaximum",
            "multipleOf",
            "minLength",
            "pattern",
            "format",
        ),
        "PropertyConstraintViolation",
    ),
}
_ACTIONS: frozenset[str] = frozenset(a.value for a in Action)
_MAX_CAUSE = 200


class _RpcError(Exception):
    """An error answer produced by the RPC layer itself (not by a handler)."""

    def __init__(self, code: str, cause: str) -> None:
        super().__init__(cause)
        self.code, self.cause = code, cause[:_MAX_CAUSE]


def _readable_id(frame: list[Any]) -> str | None:
    uid = frame[1] if len(frame) > 1 else None
    return uid if isinstance(uid, str) and len(uid) <= MAX_ID_LENGTH else None


def _json_details(details: Any) -> dict[str, Any]:
    """Keep only the JSON-serialisable entries of an error's details."""
    if not isinstance(details, dict):
        return {}
    clean: dict[str, Any] = {}
    for key, value in details.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            continue
        clean[str(key)] = value
    return clean


def _error_frame(uid: str, code: str, description: str, details: dict[str, Any]) -> str:
    return str(CallError(uid, code, description, details).to_json())


@functools.cache
def _compiled(message_type: int, action: str) -> Callable[[Any], Any]:
    """A compiled validator for one schema (fastjsonschema): ~10x faster than walking it on every message.

    It is only a fast "valid?" check. Its date-time format check is stricter than the reference validator's
    (which ignores formats), so a payload it refuses is judged again by jsonschema, and only an error found
    there is answered; the handlers check date-times themselves.
    """
    return fastjsonschema.compile(get_validator(message_type, action, OCPP_VERSION).schema)


@functools.cache
def _wants_unique_id(function: Any) -> bool:
    return "call_unique_id" in inspect.signature(function).parameters


@functools.cache
def _snake_key(key: str) -> str:
    """The library's camelCase -> snake_case key translation, computed once per distinct key."""
    return next(iter(camel_to_snake_case({key: None})))


def _snake_case(data: Any) -> Any:
    """``camel_to_snake_case`` with the key translation cached: the same result, a fraction of the regex work."""
    if isinstance(data, dict):
        return {_snake_key(k): _snake_case(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_snake_case(v) for v in data]
    return data


class SpecChargePoint(ChargePoint):
    """CSMS side of one charger connection with a spec-conformant RPC layer."""

    #: Re-validate outgoing CallResults against the response schema (tests only).
    validate_responses: ClassVar[bool] = False
    #: How many answered CALL ids are remembered for duplicate replay.
    answer_cache_size: ClassVar[int] = 32

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: OrderedDict[str, str] = OrderedDict()
        self._after_tasks: set[asyncio.Future[Any]] = set()
        kinds = (MessageType.Call, MessageType.CallResult) if self.validate_responses else (MessageType.Call,)
        for action in set(self.route_map) & _ACTIONS:  # read schemas now, not on the hot path
            for kind in kinds:
                get_validator(kind, action, OCPP_VERSION)

    async def on_frame_error(self, code: str, message_id: str) -> None:
        """Hook awaited after the RPC layer itself answered with a CALLERROR."""

    async def route_message(self, raw_msg: str | bytes) -> None:
        """Answer one frame from the charger (at most one frame sent); never raises on bad input."""
        try:
            frame = json.loads(raw_msg)
        except (ValueError, RecursionError):
            return await self._frame_error(UNKNOWN_ID, "RpcFrameworkError", "Message is not valid JSON")
        if not isinstance(frame, list) or not frame:
            return await self._frame_error(UNKNOWN_ID, "RpcFrameworkError", "Message is not a non-empty JSON array")
        uid = _readable_id(frame)
        kind = frame[0]
        if type(kind) is not int or kind not in (MessageType.Call, MessageType.CallResult, MessageType.CallError):
            return await self._frame_error(
                UNKNOWN_ID if uid is None else uid,
                "MessageTypeNotSupported",
                f"Message type {kind!r} is not supported"[:_MAX_CAUSE],
            )
        if kind != MessageType.Call:
            return self._route_response(frame, uid)
        if uid is None:
            return await self._frame_error(
                UNKNOWN_ID, "RpcFrameworkError", f"Message id must be a string of at most {MAX_ID_LENGTH} characters"
            )
        if len(frame) != 4 or not isinstance(frame[2], str):
            return await self._frame_error(uid, "RpcFrameworkError", "CALL must be [2, id, action, payload]")
        cached = self._answers.get(uid)
        if cached is not None:
            LOGGER.info("%s: duplicate CALL %s, replaying the earlier answer", self.id, uid)
            self._answers.move_to_end(uid)
            return await self._send(cached)
        await self._handle_spec_call(Call(uid, frame[2], frame[3]))

    async def _frame_error(self, uid: str, code: str, cause: str, remember: bool = False) -> None:
        LOGGER.warning("%s: answering %s to message %r: %r", self.id, code, uid, cause[:_MAX_CAUSE])
        answer = _error_frame(uid, code, _DESCRIPTIONS[code], {"cause": cause[:_MAX_CAUSE]})
        if remember:
            self._remember(uid, answer)
        await self._send(answer)
        try:
            await self.on_frame_error(code, uid)
        except Exception:
            LOGGER.exception("%s: on_frame_error hook failed", self.id)

    def _remember(self, uid: str, answer: str) -> None:
        self._answers[uid] = answer
        self._answers.move_to_end(uid)
        while len(self._answers) > self.answer_cache_size:
            self._answers.popitem(last=False)

    def _route_response(self, frame: list[Any], uid: str | None) -> None:
        response: CallResult | CallError | None = None
        if frame[0] == MessageType.CallResult and len(frame) == 3 and isinstance(frame[2], dict):
            response = CallResult(uid, frame[2])
        elif (
            frame[0] == MessageType.CallError
            and len(frame) == 5
            and isinstance(frame[2], str)
            and isinstance(frame[3], str)
            and isinstance(frame[4], dict)
        ):
            response = CallError(uid, frame[2], frame[3], frame[4])
        if uid is None or response is None:
            LOGGER.warning("%s: dropping malformed response frame for message %r", self.id, uid)
        elif not self._call_lock.locked():
            LOGGER.warning("%s: dropping response %r, no CALL is outstanding", self.id, uid)
        else:
            self._response_queue.put_nowait(response)

    def _validate(self, message_type: int, action: str, payload: dict[str, Any]) -> None:
        validator = get_validator(message_type, action, OCPP_VERSION)
        try:
            _compiled(message_type, action)(payload)
            return  # the fast path: a compiled validator, no error object built
        except fastjsonschema.JsonSchemaException:
            pass  # find the precise error (and its OCPP code) with the reference implementation
        error = best_match(validator.iter_errors(payload))
        if error is not None:
            path = "/".join(str(p) for p in error.absolute_path)
            cause = f"{path}: {error.message}" if path else error.message
            raise _RpcError(_SCHEMA_CODES.get(str(error.validator), "FormatViolation"), cause)

    async def _handle_spec_call(self, msg: Call) -> None:
        handlers: dict[str, Any] = self.route_map.get(msg.action, {})
        try:
            if msg.action not in _ACTIONS:
                raise _RpcError("NotImplemented", f"{msg.action} is not an OCPP {OCPP_VERSION} action")
            if "_on_action" not in handlers:
                raise _RpcError("NotSupported", f"{msg.action} is not supported by this CSMS")
            if not isinstance(msg.payload, dict):
                raise _RpcError("FormatViolation", "Payload must be a JSON object")
            if not handlers.get("_skip_schema_validation", False):
                self._validate(MessageType.Call, msg.action, msg.payload)
        except _RpcError as exc:
            return await self._frame_error(msg.unique_id, exc.code, exc.cause, remember=True)
        kwargs: dict[str, Any] = {}
        ok = False
        try:
            kwargs = _snake_case(msg.payload)
            result = self._invoke(handlers["_on_action"], kwargs, msg.unique_id)
            if inspect.isawaitable(result):
                result = await result
            payload = serialize_as_dict(result) if is_dataclass(result) else result
            if not isinstance(payload, dict):
                raise TypeError(f"handler returned {type(result).__name__}, not a payload")
            call_result = msg.create_call_result(snake_to_camel_case(remove_nones(payload)))
            if self.validate_responses and not handlers.get("_skip_schema_validation", False):
                self._validate(MessageType.CallResult, msg.action, call_result.payload)
            answer: str = call_result.to_json()
            ok = True
        except OCPPError as exc:
            code = str(getattr(exc, "code", "GenericError"))
            code = _LEGACY_CODES.get(code, code)
            code = code if code in OCPP201_ERROR_CODES else "GenericError"
            LOGGER.warning("%s: handler for %s answered %s", self.id, msg.action, code)
            description = exc.description if isinstance(exc.description, str) else ""
            answer = _error_frame(msg.unique_id, code, description, _json_details(exc.details))
        except Exception:
            LOGGER.exception("%s: handler for %s (message %r) failed", self.id, msg.action, msg.unique_id)
            answer = _error_frame(msg.unique_id, "InternalError", _DESCRIPTIONS["InternalError"], {})
        self._remember(msg.unique_id, answer)
        await self._send(answer)
        if ok and "_after_action" in handlers:
            self._schedule_after(handlers["_after_action"], kwargs, msg)

    @staticmethod
    def _invoke(handler: Any, kwargs: dict[str, Any], uid: str) -> Any:
        if _wants_unique_id(getattr(handler, "__func__", handler)):
            return handler(**kwargs, call_unique_id=uid)
        return handler(**kwargs)

    def _schedule_after(self, handler: Any, kwargs: dict[str, Any], msg: Call) -> None:
        try:
            result = self._invoke(handler, kwargs, msg.unique_id)
        except Exception:
            LOGGER.exception("%s: after-handler for %s failed", self.id, msg.action)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._after_tasks.add(task)
            task.add_done_callback(self._after_done)

    def _after_done(self, task: asyncio.Future[Any]) -> None:
        self._after_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            LOGGER.error("%s: after-handler failed", self.id, exc_info=task.exception())
