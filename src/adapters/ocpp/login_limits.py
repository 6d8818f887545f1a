"""Failed logins per station id: rate limited, and recorded bounded (an attacker can try as fast as they like).

Within ``WINDOW`` seconds the first ``RECORDED`` refusals of a station id are recorded one by one; the next are
only counted. The ``MAX_FAILURES``-th blocks the station id for ``BLOCK`` seconds (its upgrades are answered 429
before any password is checked) and records one ``RepeatedFailedLogins`` event with the count and the first and
last time. Attempts while blocked are counted too, and recorded in one such event with the next refusal or
success. So a station id costs at most ``RECORDED`` + 2 events per ``WINDOW`` + ``BLOCK``, however it is attacked;
only whitelisted station ids are tracked (others are refused 404 before), so memory is bounded by the fleet.
Kept in memory on each node: a restart forgets the counts.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from cloudbay_domain.security import Notice, Origin, PlatformEvent

WINDOW, MAX_FAILURES, BLOCK, RECORDED = 60.0, 10, 60.0, 3
PLATFORM, REPEATED = Origin.PLATFORM, PlatformEvent.REPEATED_FAILED_LOGINS.value


@dataclass
class _Station:
    failures: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    unrecorded: int = 0
    first_unrecorded: datetime | None = None
    kinds: set[str] = field(default_factory=set)

    def count(self, kind: str, at: datetime) -> None:
        self.unrecorded += 1
        self.first_unrecorded = self.first_unrecorded or at
        self.kinds.add(kind)

    def flush(self, at: datetime) -> list[Notice]:
        if not self.unrecorded:
            return []
        kinds = ", ".join(sorted(self.kinds))
        record = Notice(PLATFORM, REPEATED, at, f"refused: {kinds}", self.unrecorded, self.first_unrecorded)
        self.unrecorded, self.first_unrecorded, self.kinds = 0, None, set()
        return [record]


class LoginLimits:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._stations: dict[str, _Station] = {}

    def blocked(self, station_id: str, at: datetime, kind: str) -> float:
        """Seconds the station id stays blocked (0: not blocked); a blocked attempt is counted as ``kind``."""
        station = self._stations.get(station_id)
        left = station.blocked_until - self.clock() if station is not None else 0.0
        if station is None or left <= 0:
            return 0.0
        station.count(kind, at)
        return left

    def failed(self, station_id: str, kind: str, at: datetime, tech_info: str) -> list[Notice]:
        """Count one refusal; what of it (and of the attempts before) is to be recorded."""
        now = self.clock()
        station = self._stations.setdefault(station_id, _Station())
        while station.failures and station.failures[0] <= now - WINDOW:
            station.failures.popleft()
        station.failures.append(now)
        if len(station.failures) <= RECORDED:
            return [*station.flush(at), Notice(PLATFORM, kind, at, tech_info)]
        station.count(kind, at)
        if len(station.failures) < MAX_FAILURES:
            return []
        station.failures.clear()
        station.blocked_until = now + BLOCK
        return station.flush(at)

    def succeeded(self, station_id: str, at: datetime) -> list[Notice]:
        """The station id logged in: its counts are forgotten (what was only counted is recorded)."""
        station = self._stations.pop(station_id, None)
        return station.flush(at) if station is not None else []
