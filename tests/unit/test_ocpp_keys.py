"""The cached key translation gives exactly the ``ocpp`` library's result."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.charge_point import camel_to_snake_case

from adapters.ocpp.rpc import _snake_case

keys = st.one_of(
    st.sampled_from(
        [
            "transactionId",
            "ocppCSMSURL",
            "V2XChargingParameters",
            "iso15118SchemaVersion",
            "evseId",
            "SoC",
            "idTokenInfo",
            "signedMeterValue",
            "AC",
            "customData",
        ]
    ),
    st.text(alphabet="abcXYZ0129_", min_size=1, max_size=12),
)
json_values: Any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, database=None)
@given(json_values)
def test_cached_translation_equals_the_library(payload: Any) -> None:
    assert _snake_case(payload) == camel_to_snake_case(payload)
