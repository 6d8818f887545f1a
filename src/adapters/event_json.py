"""The stored events' JSON: written as the event-sourcing library writes it, read by orjson.

Every projector and ``cloudbay replay`` decodes every stored event. The library's transcoder reads it with the
standard library's decoder and an object hook (a Python call per object); orjson reads the same text about five
times faster, and the library's tagged objects (``{"_type_": "uuid_hex", "_data_": ...}``, the only form the
hook turns into something else) are then found by a walk over the containers: about half the time per event
(``benchmarks/replay_rate.py``). The bytes written are the library's own, untouched: stored events keep the
shape auditors read.

What orjson may read differently is read by the standard library, which decides: an integer past 64 bits (orjson
would round it to a float), and whatever orjson refuses (``NaN`` and ``Infinity``, which the library's encoder
writes for such floats; a lone UTF-16 surrogate escape).
"""

from __future__ import annotations

from typing import Any

import orjson
from eventsourcing.persistence import JSONTranscoder

from adapters.ocpp.rpc_json import long_digits


class StoredEventJSON(JSONTranscoder):
    """The library's JSON transcoder, decoding with orjson."""

    def decode(self, data: bytes) -> Any:
        if not long_digits(data):  # a number orjson might not keep exact: judged as frames are
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError:
                pass
            else:
                return self._tagged(value)
        return super().decode(data)

    def _tagged(self, value: Any) -> Any:
        """``value`` with each tagged object replaced by what its transcoding decodes it to, innermost first,
        as the library's object hook does."""
        if type(value) is dict:
            for key, item in value.items():
                if type(item) is dict or type(item) is list:
                    value[key] = self._tagged(item)
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._decode_obj(value)
        elif type(value) is list:
            for i, item in enumerate(value):
                if type(item) is dict or type(item) is list:
                    value[i] = self._tagged(item)
        return value
