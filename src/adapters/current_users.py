"""Whether a verified token's subject is still a current user: token revocation, cheaply.

Tokens of the embedded issuer carry the user's generation (``gen``; see ``cloudbay_domain.user.User``). A
token is good only while its subject is a registered, not removed user at that same generation, so removing a
user or rotating their secret revokes every token issued before.

Looking the user up on every request would load the aggregate each time, so each subject's state is cached
for ``ttl_seconds`` (``CLOUDBAY_USER_CACHE_SECONDS``, default 5). Changes made through this node's REST API
drop the subject's entry at once; a change made elsewhere (the CLI, another node) is seen within the TTL: a
removed user's token stops working at most ``ttl_seconds`` after the removal.

Tokens of an external issuer (``CLOUDBAY_OAUTH_JWKS_URL``) carry no generation: that issuer decides who exists,
and its subjects need not be registered here. One rule still applies to them: a subject that names a user
removed here is refused (an operator's removal locks that identity out whichever issuer vouches for it).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from adapters.auth import Principal, invalid_token
from services.users import Users

DEFAULT_TTL_SECONDS = 5.0


@dataclass(frozen=True)
class UserState:
    """What a token check needs to know of a user."""

    generation: int
    removed: bool


def _key(subject: str) -> str:
    return subject.strip().lower()  # as e-mails are normalised: one entry per user, whatever the spelling


def refusal(principal: Principal, state: UserState | None) -> str | None:
    """Why ``principal``'s token is no longer good, or None when it is."""
    if state is not None and state.removed:
        return "user removed"
    if not principal.embedded:
        return None
    if state is None:
        return "unknown user"
    if principal.generation != state.generation:
        return "token revoked (the user's secret was rotated or the user registered again); get a new one"
    return None


class CurrentUsers:
    """A short-lived cache of each subject's user state, and the check every bearer token goes through."""

    def __init__(
        self, users: Users, ttl_seconds: float = DEFAULT_TTL_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.users = users
        self.ttl_seconds = ttl_seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, UserState | None]] = {}
        self._forgotten: dict[str, int] = {}  # subject -> times forgotten: a load begun before is not cached
        self._lock = threading.Lock()

    def cached(self, subject: str) -> tuple[bool, UserState | None]:
        """(found, state): whether a fresh entry is cached, and the state it holds."""
        with self._lock:
            entry = self._entries.get(_key(subject))
        if entry is None or entry[0] <= self.clock():
            return False, None
        return True, entry[1]

    def load(self, subject: str) -> UserState | None:
        """Blocking: the subject's state from the event log, cached for ``ttl_seconds``."""
        key = _key(subject)
        with self._lock:
            forgotten = self._forgotten.get(key, 0)
        user = self.users.find(subject)
        state = None if user is None else UserState(generation=user.generation, removed=user.removed)
        with self._lock:
            if self._forgotten.get(key, 0) == forgotten:
                if len(self._entries) > 10_000:  # bounded: drop the expired entries first, then everything
                    now = self.clock()
                    self._entries = {k: v for k, v in self._entries.items() if v[0] > now}
                    if len(self._entries) > 10_000:
                        self._entries.clear()
                self._entries[key] = (self.clock() + self.ttl_seconds, state)
        return state

    def forget(self, subject: str) -> None:
        """Drop what is cached of ``subject`` (after this node changed the user)."""
        with self._lock:
            key = _key(subject)
            self._entries.pop(key, None)
            self._forgotten[key] = self._forgotten.get(key, 0) + 1

    async def check(self, principal: Principal, run: Callable[..., Awaitable[Any]]) -> None:
        """Raise the 401 Problem unless ``principal``'s token is still good; ``run`` runs a blocking load."""
        found, state = self.cached(principal.subject)
        if not found:
            state = await run(self.load, principal.subject)
        reason = refusal(principal, state)
        if reason is not None:
            raise invalid_token(reason)
