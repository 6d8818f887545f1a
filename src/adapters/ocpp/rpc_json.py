"""The JSON of OCPP-J frames: read and written by orjson, judged as the standard library judges them.

orjson is several times faster at both. Where it would read or write differently (a number it would round, a
text it refuses, a type it writes natively that must never reach an answer) the standard library decides, so
the frames read, and the errors they get, are those of the standard library (``tests/unit/test_rpc_json.py``).
"""

from __future__ import annotations

import decimal
import json
import re
from typing import Any

import orjson


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


def long_digits(raw: str | bytes) -> bool:
    """Whether ``raw`` holds a run of digits orjson might not read exact (stored events are judged so too)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    return _LONG_RUN in data.translate(_DIGITS)


def loads(raw: str | bytes) -> Any:
    """A frame's JSON; ``ValueError`` for what RFC 8259 is not, ``NaN`` and ``Infinity`` included, and for
    text that is not Unicode: a lone surrogate escape (``"\\ud800"``, which no store can encode; I-JSON,
    RFC 7493, forbids it). A valid pair is one character once decoded, so any surrogate left is a lone one.

    Read by orjson (several times faster), which refuses all of that itself; what it refuses, or may read
    differently (a number it would round), is read again by the standard library, which decides.
    """
    if not long_digits(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
    value = json.loads(raw, parse_constant=_not_json)
    text = raw if isinstance(raw, str) else raw.decode("utf-8", "replace")
    if _SURROGATE_ESCAPE.search(text) and _SURROGATE.search(json.dumps(value, ensure_ascii=False)):
        raise ValueError("a string holds a lone UTF-16 surrogate")
    return value


_PASSTHROUGH = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME  # to _decimal: refused


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
