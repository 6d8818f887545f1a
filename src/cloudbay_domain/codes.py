"""The two codes of a manufactured device and the QR payloads that carry them.

- The **pairing code** is printed on the charger's label beside its station id: whoever holds the charger
  can read it. 16 characters of Crockford base32, 80 bits.
- The **box security code** is printed inside the box: only whoever opened the box has it. 20 characters,
  100 bits.

Both are an HMAC-SHA256 of the serial number under a manufacturing key (a key id names which), so an
authorised operator can print a label again without the codes ever being stored; the event log keeps only a
salted slow hash of each. Codes are shown in groups of four (``7K3M-9QXD-...``); whoever types one back may
drop the dashes, use lower case, or mistake O for 0 and I or L for 1 (Crockford's reading rules).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlsplit

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford's base32: no I, L, O, U
PAIRING_LENGTH, BOX_LENGTH = 16, 20
PAIRING, BOX = "pair", "box"
SCHEME = "cloudbay"
_READ_AS = str.maketrans({"O": "0", "I": "1", "L": "1"})


def _base32(digest: bytes, length: int) -> str:
    bits = int.from_bytes(digest, "big")
    total = len(digest) * 8
    return "".join(ALPHABET[(bits >> (total - 5 * (i + 1))) & 31] for i in range(length))


def grouped(code: str) -> str:
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))


def normalise_code(text: str) -> str:
    """A code as typed or scanned, in its canonical form (upper case, no separators)."""
    return "".join(c for c in text.upper().translate(_READ_AS) if c not in "- ")


def derive(key: bytes, purpose: str, serial_number: str) -> str:
    """The canonical code of ``purpose`` (``pair`` or ``box``) for a serial under ``key``."""
    length = PAIRING_LENGTH if purpose == PAIRING else BOX_LENGTH
    digest = hmac.new(key, f"cloudbay:{purpose}:{serial_number}".encode(), hashlib.sha256).digest()
    return _base32(digest, length)


@dataclass(frozen=True)
class DeviceCodes:
    """One device's codes in canonical form."""

    station_id: str
    pairing: str
    box: str

    @classmethod
    def derive(cls, key: bytes, station_id: str) -> DeviceCodes:
        return cls(station_id, derive(key, PAIRING, station_id), derive(key, BOX, station_id))

    @property
    def charger_payload(self) -> str:
        """What the charger label's QR code holds: ``cloudbay://pair?station=CB-0001&code=7K3M-...``."""
        return payload(PAIRING, self.station_id, self.pairing)

    @property
    def box_payload(self) -> str:
        """What the box label's QR code holds: ``cloudbay://box?station=CB-0001&code=...``."""
        return payload(BOX, self.station_id, self.box)


def payload(kind: str, station_id: str, code: str) -> str:
    return f"{SCHEME}://{kind}?" + urlencode({"station": station_id, "code": grouped(code)})


def read_payload(text: str) -> tuple[str, str, str] | None:
    """(kind, station id, canonical code) from a scanned payload; None when ``text`` is not one."""
    parts = urlsplit(text.strip())
    if parts.scheme != SCHEME or parts.netloc not in (PAIRING, BOX):
        return None
    query = parse_qs(parts.query)
    stations, codes = query.get("station", []), query.get("code", [])
    if len(stations) != 1 or len(codes) != 1:
        return None
    return parts.netloc, stations[0], normalise_code(codes[0])


def scanned_code(text: str, kind: str, station_id: str) -> str | None:
    """The canonical code from what the line scanned or typed: a payload of ``kind`` for ``station_id``, or
    the code alone. None: a payload of another kind or for another station (that box is not this charger's)."""
    read = read_payload(text)
    if read is None:
        return normalise_code(text)
    found_kind, station, code = read
    return code if found_kind == kind and station == station_id else None
