"""OCPP date-times: RFC 3339, UTC, millisecond precision on the way out."""

from __future__ import annotations

from datetime import UTC, datetime

from ocpp.exceptions import PropertyConstraintViolationError


def utcnow() -> datetime:
    return datetime.now(UTC)


def ocpp_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: str, field: str) -> datetime:
    """OCPP date-time (RFC 3339). The schema does not check the format, so we do."""
    try:
        parsed = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise PropertyConstraintViolationError(
            description=f"{field} is not an RFC 3339 date-time", details={"field": field, "value": str(value)}
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed
