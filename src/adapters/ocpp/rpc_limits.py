"""The bounds the RPC layer puts on one frame before any handler sees it (docs/operations.md, "Limits").

A frame is bounded in size (refused before JSON parsing), in nesting depth (so that nothing after the JSON
decoder can recurse without bound), in sampled values per message, and its integers are OCPP's 32-bit
integers: a float the schema accepts as an integer (``1.0``) is read as the int it is, one out of range
(``1e300``) is refused.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from adapters.ocpp.rpc_schema import RpcError, call_schema, result_schema

INT32 = (-(2**31), 2**31 - 1)  # OCPP-J Part 4: integers are 32-bit signed


@dataclass(frozen=True)
class Limits:
    max_frame: int = 1024 * 1024  # bytes (UTF-8) of one WebSocket text frame
    max_depth: int = 64  # nesting of arrays and objects in one frame, the frame itself included
    max_samples: int = 1000  # sampled values in one TransactionEvent or MeterValues, items of other lists
    max_stored_payload: int = 64 * 1024  # bytes of DataTransfer data / NotifyEvent eventData stored as sent


def too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests arrays/objects deeper than ``limit`` (iteratively: never recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def shallow(raw: str | bytes, limit: int) -> bool:
    """Whether a frame surely nests no deeper than ``limit``: it has no more brackets than that (counted at C
    speed, brackets inside strings included), so the walk of ``too_deep`` is needed only for the others."""
    if isinstance(raw, str):
        return raw.count("[") + raw.count("{") <= limit
    return raw.count(b"[") + raw.count(b"{") <= limit


def check_counts(action: str, payload: dict[str, Any], limit: int) -> None:
    """``OccurrenceConstraintViolation`` for more sampled values (or list items) than ``limit``; run before
    schema validation, so it takes any shape (the schema judges it next)."""
    meter = payload.get("meterValue")
    entries = [mv.get("sampledValue") for mv in meter if isinstance(mv, dict)] if isinstance(meter, list) else []
    samples = sum(len(values) for values in entries if isinstance(values, list))
    if samples > limit:
        raise RpcError("OccurrenceConstraintViolation", f"{action}: {samples} sampled values (at most {limit})")
    for key, value in payload.items():
        if isinstance(value, list) and len(value) > limit:
            raise RpcError("OccurrenceConstraintViolation", f"{action}: {key} has more than {limit} items")


def stored(value: Any, limit: int) -> dict[str, Any] | None:
    """None if ``value`` may be stored as sent; else what is stored instead: its JSON size and SHA-256."""
    text = json.dumps(value, separators=(",", ":")).encode()
    return None if len(text) <= limit else {"size": len(text), "sha256": hashlib.sha256(text).hexdigest()}


def _resolve(node: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return node
    target: Any = root
    for part in ref[2:].split("/"):
        target = target[part]
    return dict(target)


Walker = Callable[[Any], Any]


class _NotInt32(Exception):
    """An integer out of int32 range; ``path`` is filled in (leaf first) as it passes up through the walkers."""

    def __init__(self, value: Any) -> None:
        self.value = value
        self.path: list[str] = []


def integers(value: Any, action: str, answer: bool = False) -> Any:
    """A CALL's payload (with ``answer``: a CALLRESULT's), already valid against its schema, with its integers
    as Python ints in int32 range.

    Each action's schema is read once into a walker that visits only the parts of a payload that can hold an
    integer (a TransactionEvent's sampled values for their unit's multiplier, not their other fields). A walker
    returns what it was given unless something below it changed (``1.0`` read as 1), and builds no path unless
    an integer is out of range."""
    walk = _walker_for(action, answer)
    if walk is None:
        return value
    try:
        return walk(value)
    except _NotInt32 as e:
        path = "/" + "/".join(reversed(e.path))
        raise RpcError("PropertyConstraintViolation", f"{path}: {e.value!r} is not a 32-bit integer") from None


@functools.cache
def _walker_for(action: str, answer: bool) -> Walker | None:
    root = result_schema(action) if answer else call_schema(action)
    return _walker(root, root, 0)


def _check_int(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is float:
        if not INT32[0] <= value <= INT32[1]:
            raise _NotInt32(value)
        return value if kind is int else int(value)
    return value


def _walker(node: dict[str, Any], root: dict[str, Any], depth: int) -> Walker | None:
    """A function converting the integers below ``node``, or None when nothing below it is an integer."""
    node = _resolve(node, root)
    if node.get("type") == "integer":
        return _check_int
    if depth > 32:  # the OCPP schemas do not recurse; a schema that did would get no conversion below here
        return None
    properties = node.get("properties")
    if isinstance(properties, dict):
        fields = {k: w for k, sub in properties.items() if (w := _walker(sub, root, depth + 1)) is not None}
        return _object_walker(fields) if fields else None
    items = node.get("items")
    if isinstance(items, dict):
        item = _walker(items, root, depth + 1)
        return _list_walker(item) if item is not None else None
    return None


def _child(walk: Walker, value: Any, key: str | int) -> Any:
    try:
        return walk(value)
    except _NotInt32 as e:
        e.path.append(str(key))
        raise


def _object_walker(fields: dict[str, Walker]) -> Walker:
    pairs = tuple(fields.items())

    def walk(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] | None = None
        for key, field_walker in pairs:
            if key in value:
                old = value[key]
                new = _child(field_walker, old, key)
                if new is not old:
                    if out is None:
                        out = dict(value)
                    out[key] = new
        return value if out is None else out

    return walk


def _list_walker(item: Walker) -> Walker:
    def walk(value: Any) -> Any:
        if not isinstance(value, list):
            return value
        out: list[Any] | None = None
        for i, old in enumerate(value):
            new = _child(item, old, i)
            if new is not old:
                if out is None:
                    out = list(value)
                out[i] = new
        return value if out is None else out

    return walk
