"""The station id: the OCPP identity a charger connects with, and its serial number at whitelisting."""

from __future__ import annotations

MAX_STATION_ID_LENGTH = 48  # the OCPP identity string, part of the connection URL


class InvalidStationId(ValueError):
    pass


def check_station_id(station_id: str) -> None:
    """A station id is printable, without '/' and at most 48 characters (OCPP identity)."""
    if (
        not station_id
        or len(station_id) > MAX_STATION_ID_LENGTH
        or not station_id.isprintable()
        or any(c in station_id for c in "/ ?#%")
    ):
        raise InvalidStationId(
            f"station id must be 1-{MAX_STATION_ID_LENGTH} printable characters without '/', ' ', '?', '#', '%'"
        )
