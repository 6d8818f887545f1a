"""Frames read by orjson (adapters/ocpp/rpc_schema.py) read exactly as the standard library reads them, and
what it refuses is refused the same way."""

from __future__ import annotations

import json

import pytest

from adapters.ocpp import rpc_schema

SAME = [
    '[2, "m1", "Heartbeat", {}]',
    "[12345678901234567890123, 1]",  # an integer past 64 bits stays exact
    "[1234567890123456789, -9223372036854775809]",
    "[18446744073709551615, 1.5, -0.0, 1e300]",
    "[1e400]",  # the standard library reads it as infinity; the schema and range checks judge it next
    '["\\ud83d\\ude00", "é", "\\u0000"]',  # a valid surrogate pair is one character
]
REFUSED = ["[NaN]", "[Infinity]", '["\\ud800"]', '["\\udc00x"]', "[1,]", "", "[01]"]


@pytest.mark.parametrize("text", SAME)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_a_frame_reads_as_the_standard_library_reads_it(text: str, as_bytes: bool) -> None:
    read = rpc_schema.loads(text.encode() if as_bytes else text)

    assert json.dumps(read) == json.dumps(json.loads(text))
    assert [type(v) for v in read] == [type(v) for v in json.loads(text)]


@pytest.mark.parametrize("text", REFUSED)
def test_what_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        rpc_schema.loads(text)


def test_an_answer_is_written_compact_and_an_unwritable_one_is_refused() -> None:
    assert rpc_schema.dumps([3, "m1", {"status": "Accepted", "n": 2**70}]) == (
        '[3,"m1",{"status":"Accepted","n":1180591620717411303424}]'
    )
    with pytest.raises(TypeError):
        rpc_schema.dumps([3, "m1", {"at": object()}])
