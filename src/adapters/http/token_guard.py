"""Back-off for the token endpoint against secret guessing: small in-memory token buckets of failed attempts.

Each failed client authentication takes one token from the bucket of the client id it named and from the
bucket of the remote address it came from. A bucket holds ``capacity`` tokens and regains ``capacity`` per
``window`` seconds. While either bucket is empty the endpoint answers ``429 slow_down`` with ``Retry-After``
(seconds until a token is back) without checking the secret, so a correct guess during the back-off is not
told apart from a wrong one. Successful grants take nothing. The buckets are per node: a deployment behind a
load balancer multiplies the allowance by its node count. Memory is bounded by ``max_keys``: full buckets are
dropped first, then the oldest.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable

CAPACITY = 10  # failed attempts allowed at once, per client id and per remote address
WINDOW_SECONDS = 60.0  # the time a bucket takes to refill from empty
MAX_KEYS = 10_000


class TokenGuard:
    def __init__(
        self,
        capacity: int = CAPACITY,
        window: float = WINDOW_SECONDS,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.capacity, self.rate, self.max_keys, self.clock = capacity, capacity / window, max_keys, clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def _level(self, key: str, now: float) -> float:
        tokens, at = self._buckets.get(key, (float(self.capacity), now))
        return min(float(self.capacity), tokens + (now - at) * self.rate)

    def retry_after(self, keys: Iterable[str]) -> int | None:
        """Seconds to wait before another attempt under ``keys``, or None if one may be made now."""
        now = self.clock()
        with self._lock:
            lowest = min((self._level(k, now) for k in keys), default=float(self.capacity))
        return None if lowest >= 1 else max(1, math.ceil((1 - lowest) / self.rate))

    def failed(self, keys: Iterable[str]) -> None:
        """Take one token from each key's bucket."""
        now = self.clock()
        with self._lock:
            for key in keys:
                self._buckets[key] = (max(0.0, self._level(key, now) - 1), now)
            if len(self._buckets) > self.max_keys:
                self._evict(now)

    def _evict(self, now: float) -> None:
        full = [k for k in self._buckets if self._level(k, now) >= self.capacity]
        for key in full:
            del self._buckets[key]
        for key in list(self._buckets)[: max(0, len(self._buckets) - self.max_keys)]:
            del self._buckets[key]  # dicts keep insertion order: the oldest first
