"""Hypothesis strategies for OCPP-J frames a charger could send: schema-valid payloads of every charger-initiated
OCPP 2.0.1 action (read from the ``ocpp`` package's own schemas), the same payloads broken one way or another,
and frames that are not OCPP-J at all.

Leaves lean towards the edges: boundary integers and numbers, strings at, just over and far over their
``maxLength``, control characters, NUL, lone surrogates and other unicode, wrong types, deep nesting.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from hypothesis import strategies as st
from ocpp.messages import get_validator

#: A drawn frame: ("valid" or "broken", the CALL as a list) or ("malformed", the frame's text).
#: The test makes the message ids of CALLs unique, so that no answer is a replay of an earlier one.

#: Every OCPP 2.0.1 message a Charging Station initiates (Part 2, the CS -> CSMS direction).
CHARGER_ACTIONS = (
    "Authorize",
    "BootNotification",
    "ClearedChargingLimit",
    "DataTransfer",
    "FirmwareStatusNotification",
    "Get15118EVCertificate",
    "GetCertificateStatus",
    "Heartbeat",
    "LogStatusNotification",
    "MeterValues",
    "NotifyChargingLimit",
    "NotifyCustomerInformation",
    "NotifyDisplayMessages",
    "NotifyEVChargingNeeds",
    "NotifyEVChargingSchedule",
    "NotifyEvent",
    "NotifyMonitoringReport",
    "NotifyReport",
    "PublishFirmwareStatusNotification",
    "ReportChargingProfiles",
    "ReservationStatusUpdate",
    "SecurityEventNotification",
    "SignCertificate",
    "StatusNotification",
    "TransactionEvent",
)
#: The ones the platform handles (the others are answered NotSupported): drawn more often.
HANDLED: tuple[str, ...] = ("Authorize", "BootNotification", "DataTransfer", "Heartbeat", "MeterValues", "NotifyEvent")
HANDLED += ("StatusNotification", "TransactionEvent")

BOUNDARY_INTS = (0, -1, 1, 2**31 - 1, -(2**31), 2**31, -(2**31) - 1, 2**63, 10**30)
BOUNDARY_NUMBERS = (0, -1, 1.0, -0.0, 1e300, -1e300, 5e-324, 2**31 - 1, 2**31, 0.1, 1e-7)
NASTY_TEXT: tuple[str, ...] = ("", "\x00", "A\x00B", "\x1b[2J", "\x7f", "\u0085", "\ud800", "\udfff", "\ufeff")
NASTY_TEXT += ("\u202e", "😀" * 3, "'; DROP TABLE x; --", "%00", "\\u0000", "null", "Ω≈ç√", "\r\n", " ")
DATE_TIMES: tuple[str, ...] = ("2026-11-25T10:00:00Z", "2026-11-25T10:00:00.123456+14:00", "0001-01-01T00:00:00Z")
DATE_TIMES += ("9999-12-31T23:59:59Z", "2026-02-30T25:61:61Z", "not a time", "", "2026-11-25", "\x00")


def schema(action: str) -> dict[str, Any]:
    return dict(get_validator(2, action, "2.0.1").schema)


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def any_json(max_leaves: int = 8) -> st.SearchStrategy[Any]:
    leaves = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text()
    return st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=max_leaves,
    )


def _string(node: dict[str, Any]) -> st.SearchStrategy[str]:
    if node.get("format") == "date-time":
        return st.sampled_from(DATE_TIMES[:4]) | st.sampled_from(DATE_TIMES[:4]) | st.sampled_from(DATE_TIMES)
    limit = int(node.get("maxLength", 2500))
    tame = st.text(alphabet="ABCXYZ0189-_.", min_size=1, max_size=min(limit, 20))  # what chargers really send
    edges = st.sampled_from(["", "x" * limit, "é" * limit, "😀" * limit])
    nasty = st.sampled_from(NASTY_TEXT).map(lambda s: s[:limit])
    return tame | tame | st.text(max_size=min(limit, 24)) | edges | nasty


def _integer(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low, high = node.get("minimum"), node.get("maximum")
    edges = [v for v in BOUNDARY_INTS if (low is None or v >= low) and (high is None or v <= high)]
    ints = st.integers(min_value=low, max_value=high)
    floats = ints.filter(lambda v: abs(v) < 2**53).map(float)  # 1.0 is an integer to JSON Schema
    return st.sampled_from(edges) | ints | floats if edges else ints | floats


def _number(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    low = node.get("minimum")
    floats = st.floats(min_value=low, allow_nan=False, allow_infinity=False)
    return st.sampled_from([v for v in BOUNDARY_NUMBERS if low is None or v >= low]) | floats


def _deferred(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: valid(node, root))  # built when first drawn: schemas refer to themselves


def valid(node: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema ``node`` accepts (draft-06 as the OCPP schemas use it)."""
    node = _resolve(node, root)
    if "enum" in node:
        return st.sampled_from(node["enum"])
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        required = set(node.get("required", []))
        fields = {k: _deferred(v, root) for k, v in props.items()}
        obj = st.fixed_dictionaries(
            {k: s for k, s in fields.items() if k in required},
            optional={k: s for k, s in fields.items() if k not in required},
        )
        if node.get("additionalProperties", True) is not False:  # customData: any vendor keys
            extra = st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k not in props), any_json())
            obj = st.builds(lambda a, b: {**b, **a}, obj, extra)
        return obj
    if kind == "array":
        low = int(node.get("minItems", 0))
        high = min(int(node.get("maxItems", low + 3)), low + 3)
        return st.lists(valid(node["items"], root), min_size=low, max_size=high)
    if kind is None:  # DataTransfer's data: anything
        return any_json()
    return {
        "string": lambda: _string(node),
        "integer": lambda: _integer(node),
        "number": lambda: _number(node),
        "boolean": lambda: st.booleans(),
    }[kind]()


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth):
        value = {"a": value} if depth % 2 else [value]
    return value


WRONG_VALUES: list[Any] = [None, True, 0, -1, 2**31, 1e300, -0.0, "", "x", [], {}, [[[]]], {"": None}]
WRONG: st.SearchStrategy[Any] = st.sampled_from(WRONG_VALUES)
HOSTILE = (
    WRONG
    | st.sampled_from(NASTY_TEXT)
    | st.integers(min_value=1, max_value=200_000).map(lambda n: "x" * n)  # up to far over any maxLength
    | st.integers(min_value=1, max_value=200).map(nested)  # up to over the nesting limit
    | st.lists(st.just({"value": 1}), min_size=40, max_size=80)  # many items
)


@st.composite
def broken(draw: st.DrawFn, payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` broken in one place: a value replaced, a key removed, or a key added."""
    copy = json.loads(json.dumps(payload))
    paths = _paths(copy)
    how = draw(st.sampled_from(["replace", "remove", "add"] if paths else ["add"]))
    path: tuple[Any, ...] = draw(st.sampled_from(paths)) if paths else ()
    parent: Any = copy
    for step in path[:-1]:
        parent = parent[step]
    if how == "replace":
        parent[path[-1]] = draw(HOSTILE)
    elif how == "remove":
        del parent[path[-1]]
    else:
        target = parent[path[-1]] if path and isinstance(parent[path[-1]], dict) else copy
        target[draw(st.sampled_from(["bogus", "customData", "", "\x00"]))] = draw(HOSTILE)
    return copy


@functools.cache
def payload_of(action: str) -> st.SearchStrategy[dict[str, Any]]:
    root = schema(action)
    return valid(root, root)


message_ids = st.text(min_size=1, max_size=36)
charger_actions = st.sampled_from(HANDLED) | st.sampled_from(CHARGER_ACTIONS)


@st.composite
def valid_call(draw: st.DrawFn) -> tuple[str, Any]:
    action = draw(charger_actions)
    return "valid", [2, draw(message_ids), action, draw(payload_of(action))]


@st.composite
def broken_call(draw: st.DrawFn) -> tuple[str, Any]:
    action = draw(charger_actions)
    return "broken", [2, draw(message_ids), action, draw(broken(draw(payload_of(action))))]


BOGUS_ACTIONS = ("", "Bogus", "heartbeat", "Reset", "RequestStartTransaction", "StartTransaction", "\x00", "A" * 5000)
NOT_FRAMES = ("", "[]", "{}", "null", "2", '"x"', "[2]", '[2, "id"]', "[2, 1, 2, 3]", "[", "NaN", "[2,'a','b',{}]")


@st.composite
def malformed(draw: st.DrawFn) -> tuple[str, Any]:
    """Frames that are not a CALL the platform should handle; responses (3, 4) must go unanswered."""
    uid = draw(message_ids | st.sampled_from(["x" * 37, "x" * 100_000, "", "\x00"]) | WRONG)
    kind = draw(st.sampled_from([0, 1, 3, 4, 5, -1, 2.0, "2", 2**64, None, [2]]))
    frame = draw(
        st.sampled_from(NOT_FRAMES)
        | st.builds(lambda a, p: json.dumps([2, uid, a, p]), st.sampled_from(BOGUS_ACTIONS), any_json())
        | st.builds(lambda a, p: json.dumps([2, uid, a, p]), charger_actions, WRONG)
        | st.builds(lambda rest: json.dumps([kind, uid, *rest]), st.lists(any_json(), max_size=4))
        | st.builds(lambda p: json.dumps([2, uid, "Heartbeat", {}, p]), any_json())
        | st.builds(lambda v: json.dumps(v), any_json())
    )
    return "malformed", frame


frames = valid_call() | broken_call() | malformed()
