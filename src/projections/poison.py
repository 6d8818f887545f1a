"""An event a projection cannot apply: named loudly, and after :data:`POISON_AFTER` failures skipped and recorded.

The choice: a projection that fails on one event would otherwise stop at that position for ever (every later
event of every aggregate waits behind it, `/readyz` 503 until an operator ships a fix). While it fails,
`/readyz` names the projection, the position and the event's topic. After ``POISON_AFTER`` failures in a row
at the same position, and only when the error is not the store's (a connection, a lock or a timeout is
transient: the follower waits for the store instead), the event is skipped: written to ``rm_skipped`` with its
position, topic and error, logged at ERROR, counted, and the rest of the read model stays live. A skipped
event can be applied again by rebuilding the projection (``cloudbay replay``) once the projection is fixed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from projections.db import Tx

log = logging.getLogger("cloudbay.projections")

POISON_AFTER = 5
SKIPPED_DDL = (
    "CREATE TABLE IF NOT EXISTS rm_skipped (projection TEXT NOT NULL, position BIGINT NOT NULL, topic TEXT NOT NULL,"
    " error TEXT NOT NULL, skipped_at TEXT NOT NULL, PRIMARY KEY (projection, position))"
)
TRANSIENT = ("OperationalError", "InterfaceError", "PoolTimeout", "TimeoutError", "ConnectionError")


class EventFailed(Exception):
    """Applying the event at ``position`` (of ``topic``) failed; the cause is chained."""

    def __init__(self, position: int, topic: str, cause: BaseException) -> None:
        super().__init__(f"event at position {position} ({topic}): {type(cause).__name__}: {cause}")
        self.position, self.topic, self.cause = position, topic, cause


def is_transient(error: BaseException) -> bool:
    """Whether the store failed rather than the event (never a reason to skip an event)."""
    return any(cls.__name__ in TRANSIENT for cls in type(error).__mro__)


def record_skipped(tx: Tx, projection: str, notification: Any, error: str) -> None:
    log.error(
        "projection %s skips the event at position %s (%s): %s", projection, notification.id, notification.topic, error
    )
    tx.execute(
        "INSERT INTO rm_skipped (projection, position, topic, error, skipped_at) VALUES (%s, %s, %s, %s, %s)"
        " ON CONFLICT (projection, position) DO NOTHING",
        (projection, notification.id, notification.topic, error[:1000], datetime.now(UTC).isoformat()),
    )


def skipped(tx: Tx, projection: str) -> list[dict[str, Any]]:
    """The events ``projection`` skipped, oldest first."""
    return tx.fetchall(
        "SELECT position, topic, error, skipped_at FROM rm_skipped WHERE projection = %s ORDER BY position",
        (projection,),
    )


class PoisonWatch:
    """Counts a follower's failures in a row at one position; says which event to skip, if any."""

    def __init__(self, after: int = POISON_AFTER) -> None:
        self.after = after
        self.position: int | None = None
        self.count = 0

    def failed(self, error: BaseException) -> tuple[int, str] | None:
        """Note a failure; the (position, error) to skip on the next attempt once the event is poison."""
        if not isinstance(error, EventFailed) or is_transient(error.cause):
            self.position, self.count = None, 0
            return None
        self.count = self.count + 1 if error.position == self.position else 1
        self.position = error.position
        return (error.position, str(error)) if self.count >= self.after else None

    def succeeded(self) -> None:
        self.position, self.count = None, 0
