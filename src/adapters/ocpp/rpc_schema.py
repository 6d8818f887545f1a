"""The shapes the OCPP-J RPC layer checks, apart from the connection logic: frame shapes, schema
validation with the 2.0.1 error codes, the code spellings, JSON output and fast key-case translation.

Kept apart from ``rpc.py`` so the connection logic reads on its own. The ``ocpp`` library contributes
only its 2.0.1 JSON schemas (``get_validator(...).schema``) and its public case helpers; the error codes
and their mapping follow OCPP 2.0.1 Part 4, not the library (which answers some of them differently).
"""

from __future__ import annotations

import decimal
import functools
import json
import logging
import re
from collections.abc import Callable
from dataclasses import is_dataclass
from typing import Any

import fastjsonschema
import orjson
from jsonschema.exceptions import best_match
from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.messages import get_validator
from ocpp.v201.enums import Action

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


def _decimal(value: Any) -> Any:
    """Decimals (which handlers may compute with) go out as JSON numbers; anything else is a bug."""
    if isinstance(value, decimal.Decimal):
        return float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _not_json(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")
_SURROGATE = re.compile("[\ud800-\udfff]")
#: orjson reads an integer past 64 bits as a float; the standard library keeps it exact (and the schema's
#: integer check, then the range check, judge it), so a frame with such a run of digits is read by the latter.
#: Found at C speed: the frame's bytes with every ASCII digit made "0" and all else " ", searched for 19 zeros
#: (a regular expression took longer than orjson's whole reading).
_DIGITS = bytes(ord("0") if 48 <= i <= 57 else ord(" ") for i in range(256))
_LONG_RUN = b"0" * 19


def _long_digits(raw: str | bytes) -> bool:
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return _LONG_RUN in data.translate(_DIGITS)


def loads(raw: str | bytes) -> Any:
    """A frame's JSON; ``ValueError`` for what RFC 8259 is not, ``NaN`` and ``Infinity`` included, and for
    text that is not Unicode: a lone surrogate escape (``"\\ud800"``, which no store can encode; I-JSON,
    RFC 7493, forbids it). A valid pair is one character once decoded, so any surrogate left is a lone one.

    Read by orjson (several times faster), which refuses all of that itself; what it refuses, or may read
    differently (a number it would round), is read again by the standard library, which decides.
    """
    if not _long_digits(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    value = json.loads(raw, parse_constant=_not_json)
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if _SURROGATE_ESCAPE.search(text) and _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise ValueError("a string holds a lone UTF-16 surrogate")
    return value


def dumps(frame: list[Any]) -> str:
    """One frame as compact JSON (chargers with small buffers are happier without the spaces).

    Written by orjson; what it will not write (an integer past 64 bits, a key that is not a string, a
    dataclass or a datetime, which must never reach an answer) goes to the standard library, which writes it
    or refuses it with ``TypeError``.
    """
    try:
        return orjson.dumps(frame, default=_decimal, option=_PASSTHROUGH).decode()
    except orjson.JSONEncodeError:
        return json.dumps(frame, separators=(",", ":"), default=_decimal)


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


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


def answer_payload(action: str, result: Any, check: bool) -> dict[str, Any]:
    """A handler's result (a ``call_result`` dataclass or a dict) as the camelCase payload to answer."""
    payload = serialize_as_dict(result) if is_dataclass(result) and not isinstance(result, type) else result
    if not isinstance(payload, dict):
        raise TypeError(f"handler for {action} returned {type(result).__name__}, not a payload")
    answer: dict[str, Any] = camel_case(remove_nones(payload))
    if check:
        validate(CALLRESULT, action, answer)
    return answer
