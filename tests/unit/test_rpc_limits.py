"""The RPC layer's cheap depth pre-check never lets a too-deep frame skip the full check."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from adapters.ocpp.rpc_limits import shallow, too_deep

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\', max_size=4),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner, max_size=3),
    max_leaves=40,
)


@given(JSON, st.integers(min_value=1, max_value=12))
def test_a_frame_counted_shallow_is_never_too_deep(value: object, limit: int) -> None:
    raw = json.dumps(value)
    if shallow(raw, limit) or shallow(raw.encode(), limit):
        assert not too_deep(value, limit)


def test_brackets_are_counted_in_text_and_bytes() -> None:
    assert shallow('[2, "1", "Heartbeat", {}]', 2) and not shallow("[[[[]]]]", 3)
    assert shallow(b'[2, "1", "Heartbeat", {}]', 2) and not shallow(b"[[[[]]]]", 3)
