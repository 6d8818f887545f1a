"""The shapes the OCPP-J RPC layer checks, apart from the connection logic: frame shapes, schema
validation with the 2.0.1 error codes, the code spellings, JSON output and fast key-case translation.

Kept apart from ``rpc.py`` so the connection logic reads on its own. The ``ocpp`` library contributes
only its 2.0.1 JSON schemas (``get_validator(...).schema``) and its public case helpers; the error codes
and their mapping follow OCPP 2.0.1 Part 4, not the library (which answers some of them differently).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

import fastjsonschema
from jsonschema.exceptions import best_match
from ocpp.charge_point import camel_to_snake_case, snake_to_camel_case
from ocpp.messages import get_validator
from ocpp.v201.enums import Action

from adapters.ocpp.rpc_json import dumps as dumps  # re-exported: the frames' JSON
from adapters.ocpp.rpc_json import loads as loads  # re-exported

LOGGER = logging.getLogger("cloudbay.ocpp")

OCPP_VERSION = "2.0.1"
CALL, CALLRESULT, CALLERROR = 2, 3, 4
MAX_ID_LENGTH = 36
UNKNOWN_ID = "-1"  # the id to answer when the frame's own cannot be read
MAX_CAUSE = 200
#: Bounded: a charger can send any keys it likes inside customData, and must not grow our memory with them.
KEY_CACHE_SIZE = 4096
ACTIONS: frozenset[str] = frozenset(a.value for a in Action)
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
#: OCPP 1.6 spells two codes differently; peers (and the library's exceptions) still use them.
LEGACY_CODES = {
    "OccurenceConstraintViolation": "OccurrenceConstraintViolation",
    "FormationViolation": "FormatViolation",
}
DESCRIPTIONS = {
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
#: The JSON-schema keyword that failed -> the OCPP 2.0.1 code describing that kind of violation.
SCHEMA_CODES = {
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


class RpcError(Exception):
    """An error answer the RPC layer produces itself (not a handler): an OCPP code and a short cause."""

    def __init__(self, code: str, cause: str) -> None:
        super().__init__(cause)
        self.code, self.cause = code, cause[:MAX_CAUSE]


def readable_id(frame: list[Any]) -> str | None:
    """The frame's message id if it is one (a string of at most 36 characters), else None."""
    uid = frame[1] if len(frame) > 1 else None
    return uid if isinstance(uid, str) and len(uid) <= MAX_ID_LENGTH else None


def is_response(decoded: Any) -> bool:
    """A CALLRESULT or CALLERROR by its type number: routed to our waiting CALL, never answered."""
    if not isinstance(decoded, list) or not decoded:
        return False
    return type(decoded[0]) is int and decoded[0] in (CALLRESULT, CALLERROR)


def spec_code(code: str) -> str:
    """The 2.0.1 spelling of a code that may come in its 1.6 spelling."""
    return LEGACY_CODES.get(code, code)


def answerable_code(code: Any) -> str:
    """A code we may send: the 2.0.1 spelling if it is one of the twelve, else ``GenericError``."""
    spelled = spec_code(str(code))
    return spelled if spelled in OCPP201_ERROR_CODES else "GenericError"


@functools.cache
def compiled(message_type: int, action: str) -> Callable[[Any], Any]:
    """A compiled validator for one schema (fastjsonschema): ~10x faster than walking it on every message.

    It is only a fast "valid?" check: a payload it refuses is judged again by jsonschema, and only an error
    found there counts. Formats are not checked, as the reference validator does not check them either (a
    date-time check costs more than the rest of a TransactionEvent's): the handlers check date-times themselves.
    """
    return fastjsonschema.compile(get_validator(message_type, action, OCPP_VERSION).schema, use_formats=False)


def call_schema(action: str) -> dict[str, Any]:
    """The 2.0.1 JSON schema of a CALL's payload."""
    return dict(get_validator(CALL, action, OCPP_VERSION).schema)


def result_schema(action: str) -> dict[str, Any]:
    """The 2.0.1 JSON schema of the payload of a CALLRESULT to ``action``."""
    return dict(get_validator(CALLRESULT, action, OCPP_VERSION).schema)


def warm_up(message_type: int, action: str) -> None:
    """Read a schema now (at class creation), not while the first charger waits for its answer."""
    get_validator(message_type, action, OCPP_VERSION)


def validate(message_type: int, action: str, payload: dict[str, Any]) -> None:
    """Raise ``RpcError`` with the OCPP code of the most relevant violation; return if the payload is valid."""
    validator = get_validator(message_type, action, OCPP_VERSION)
    try:
        compiled(message_type, action)(payload)
        return  # the fast path: a compiled validator, no error object built
    except fastjsonschema.JsonSchemaException:
        pass  # find the precise error (and its OCPP code) with the reference implementation
    except RecursionError:
        raise RpcError("FormatViolation", "Payload is nested too deeply") from None
    try:
        error = best_match(validator.iter_errors(payload))
    except RecursionError:
        raise RpcError("FormatViolation", "Payload is nested too deeply") from None
    if error is not None:
        path = "/".join(str(p) for p in error.absolute_path)
        cause = f"{path}: {error.message}" if path else error.message
        raise RpcError(SCHEMA_CODES.get(str(error.validator), "FormatViolation"), cause)


def json_details(details: Any) -> dict[str, Any]:
    """Keep only the JSON-serialisable entries of an error's details (never objects, never reprs)."""
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


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _snake_key(key: str) -> str:
    """The library's camelCase -> snake_case key translation, computed once per distinct key."""
    return next(iter(camel_to_snake_case({key: None})))


def snake_case(data: Any) -> Any:
    """``camel_to_snake_case`` with the key translation cached: the same result, a fraction of the regex work."""
    if isinstance(data, dict):
        return {_snake_key(k): snake_case(v) for k, v in data.items()}
    if isinstance(data, list):
        return [snake_case(v) for v in data]
    return data


@functools.lru_cache(maxsize=KEY_CACHE_SIZE)
def _camel_key(key: str) -> str:
    """The library's snake_case -> camelCase key translation, computed once per distinct key."""
    return next(iter(snake_to_camel_case({key: None})))


def camel_case(data: Any) -> Any:
    """``snake_to_camel_case`` with the key translation cached (every answer goes through it)."""
    if isinstance(data, dict):
        return {_camel_key(k): camel_case(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel_case(v) for v in data]
    return data


@functools.cache
def _field_names(kind: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(kind))


def wire_payload(value: Any) -> Any:
    """A payload as it goes on the wire, ours (a CALL) or an answer: the library's ``serialize_as_dict``,
    ``remove_nones`` and ``camel_case`` in one walk, without the deep copy ``dataclasses.asdict`` makes:
    dataclasses as dicts, every None in a dict or list left out, every key in camelCase."""
    if isinstance(value, dict):
        return {_camel_key(k): wire_payload(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [wire_payload(v) for v in value if v is not None]
    if is_dataclass(value) and not isinstance(value, type):
        found = ((name, getattr(value, name)) for name in _field_names(type(value)))
        return {_camel_key(name): wire_payload(v) for name, v in found if v is not None}
    return value


def answer_payload(action: str, result: Any, check: bool) -> dict[str, Any]:
    """A handler's result (a ``call_result`` dataclass or a dict) as the camelCase payload to answer."""
    if not isinstance(result, dict) and not (is_dataclass(result) and not isinstance(result, type)):
        raise TypeError(f"handler for {action} returned {type(result).__name__}, not a payload")
    answer: dict[str, Any] = wire_payload(result)
    if check:
        validate(CALLRESULT, action, answer)
    return answer
