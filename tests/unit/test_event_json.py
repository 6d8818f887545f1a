"""Stored events read by orjson (adapters/event_json.py) read exactly as the event-sourcing library reads them."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import DatetimeAsISO, DecimalAsStr, JSONTranscoder, UUIDAsHex
from hypothesis import example, given
from hypothesis import strategies as st

from adapters.event_json import StoredEventJSON
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log


def _transcoders() -> tuple[JSONTranscoder, StoredEventJSON]:
    library, ours = JSONTranscoder(), StoredEventJSON()
    for transcoder in (library, ours):
        for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
            transcoder.register(transcoding)
    return library, ours


LIBRARY, OURS = _transcoders()

scalars = (
    st.none()
    | st.booleans()
    | st.integers()  # past 64 bits too: read exact
    | st.floats()  # NaN and infinities: the library writes them as NaN and Infinity
    | st.text(st.characters(blacklist_categories=["Cs"]))  # the library cannot write a lone surrogate
    | st.uuids()
    | st.datetimes(timezones=st.just(UTC))
    | st.decimals(allow_nan=False, allow_infinity=False)
)
keys = st.text(max_size=8, alphabet="ab_\u00e9") | st.sampled_from(["_type_", "_data_"])
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


def _same(a: Any, b: Any) -> bool:
    """Equal, of the same types all the way down, NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def _read(transcoder: JSONTranscoder, stored: bytes) -> Any:
    """What ``transcoder`` reads, or the type of the error it raises."""
    try:
        return transcoder.decode(stored)
    except Exception as e:
        return type(e)


@given(st.dictionaries(st.text(max_size=8, alphabet="ab_\u00e9"), values, max_size=6))
@example({"at": datetime(2026, 1, 1, tzinfo=UTC), "id": UUID(int=7), "price": Decimal("0.25")})
@example({"n": 123456789012345678901234567890, "m": -(2**63) - 1, "x": 1e308 * 10})
@example({"pair": "\U0001f600", "nul": "\x00", "quote": '"\\'})
@example({"nested": [{"_type_": "uuid_hex", "_data_": UUID(int=1).hex}, {"_type_": "not a tag", "x": 1}]})
@example({"unknown tag": {"_type_": None, "_data_": 1}})
def test_a_stored_event_reads_as_the_library_reads_it(state: dict[str, Any]) -> None:
    stored = LIBRARY.encode(state)

    assert _same(_read(OURS, stored), _read(LIBRARY, stored))


def test_text_the_library_would_not_write_reads_as_the_library_reads_it() -> None:
    for stored in (b'{"a": "\\ud800"}', b'{"a": NaN, "b": -Infinity}', b'{"a": 1e400}', b'{"a": 12345678901234567890}'):
        assert _same(_read(OURS, stored), _read(LIBRARY, stored))


def test_the_event_log_writes_the_librarys_bytes_and_reads_them_with_ours() -> None:
    log = build_log(Settings(store=StoreSettings("memory://")))
    state = {"at": datetime(2026, 1, 1, tzinfo=UTC), "samples": [{"value": 1.5, "id": UUID(int=3)}]}

    assert isinstance(log.mapper.transcoder, StoredEventJSON)
    assert log.mapper.transcoder.encode(state) == LIBRARY.encode(state)
    assert log.mapper.transcoder.decode(LIBRARY.encode(state)) == state
