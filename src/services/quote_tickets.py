"""A quote's ``quote_id``: the quote's request, charger, time and tariff version, signed by the platform (HMAC-
SHA256), so that accepting it needs no record of quotes, and a quote cannot be forged, altered, moved to another
charger, or accepted after it expires. Accepting plans again at the quote's own time: the same plan."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from cloudbay_domain.quotes import QuoteRequest
from services.errors import ServiceError

QUOTE_LIFETIME = timedelta(minutes=15)
MAX_QUOTE_ID = 2048


class InvalidQuote(ServiceError):
    """Not a quote this platform made (garbled, altered, or signed by another key)."""


@dataclass(frozen=True)
class Ticket:
    station_id: str
    quoted_at: datetime
    expires_at: datetime
    tariff_version: int
    request: QuoteRequest


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _fraction(value: Fraction | None) -> str | None:
    return None if value is None else str(value)


def _unfraction(value: Any) -> Fraction | None:
    return None if value is None else Fraction(str(value))


class QuoteTickets:
    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"cloudbay quote id v1\0" + key).digest()

    def issue(self, station_id: str, request: QuoteRequest, quoted_at: datetime, tariff_version: int) -> Ticket:
        return Ticket(station_id, quoted_at, quoted_at + QUOTE_LIFETIME, tariff_version, request)

    def quote_id(self, ticket: Ticket) -> str:
        r = ticket.request
        body = {
            "s": ticket.station_id,
            "at": ticket.quoted_at.isoformat(),
            "x": ticket.expires_at.isoformat(),
            "v": ticket.tariff_version,
            "by": r.by.isoformat(),
            "e": _fraction(r.energy_wh),
            "m": _fraction(r.max_price),
            "p": _fraction(r.max_power_w),
            "ph": r.phases,
            "min": _fraction(r.min_current_a),
        }
        payload = _b64(json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def read(self, quote_id: str) -> Ticket:
        """The ticket of a genuine ``quote_id`` (expired or not: that is the caller's check)."""
        payload, _, mac = quote_id.partition(".")
        if len(quote_id) > MAX_QUOTE_ID or not hmac.compare_digest(
            mac.encode("ascii", "replace"), self._mac(payload).encode("ascii")
        ):
            raise InvalidQuote("not a quote of this platform: ask for a new one with POST .../schedule-quotes")
        body = json.loads(_unb64(payload))
        request = QuoteRequest(
            by=datetime.fromisoformat(body["by"]),
            energy_wh=_unfraction(body["e"]),
            max_price=_unfraction(body["m"]),
            max_power_w=_unfraction(body["p"]),
            phases=body["ph"],
            min_current_a=_unfraction(body["min"]),
        )
        at, expires = datetime.fromisoformat(body["at"]), datetime.fromisoformat(body["x"])
        return Ticket(str(body["s"]), at, expires, int(body["v"]), request)

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("utf-8"), hashlib.sha256).digest())

    @staticmethod
    def digest(quote_id: str) -> str:
        """A short name of the quote, for the schedule's id (a quote is accepted once)."""
        return hashlib.sha256(quote_id.encode("utf-8")).hexdigest()[:32]
