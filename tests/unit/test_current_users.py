"""Token revocation: which verified tokens are still good, and the short cache of user state (no I/O)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from adapters.auth import Principal, Role
from adapters.current_users import CurrentUsers, UserState, refusal
from adapters.http.problems import Problem
from cloudbay_domain.user import UserRole
from services.platform import Platform

EMAIL = "alice@example.com"
ROLES = frozenset({Role.USER})


def embedded(generation: int | None, subject: str = EMAIL) -> Principal:
    return Principal(subject, ROLES, generation=generation, embedded=True)


def external(subject: str = EMAIL) -> Principal:
    return Principal(subject, ROLES)


@pytest.mark.parametrize(
    ("principal", "state", "reason"),
    [
        (embedded(2), UserState(2, removed=False), None),
        (embedded(1), UserState(2, removed=False), "token revoked"),
        (embedded(None), UserState(1, removed=False), "token revoked"),
        (embedded(3), UserState(3, removed=True), "user removed"),
        (embedded(1), None, "unknown user"),
        (external(), None, None),  # the external issuer decides who exists
        (external(), UserState(4, removed=False), None),  # no generation claim to compare
        (external(), UserState(4, removed=True), "user removed"),  # but a removal here locks the identity out
    ],
)
def test_which_tokens_are_still_good(principal: Principal, state: UserState | None, reason: str | None) -> None:
    found = refusal(principal, state)
    assert (found is None) if reason is None else (found is not None and found.startswith(reason))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _direct(fn: Any, *args: Any) -> Any:
    return fn(*args)


def check(users: CurrentUsers, principal: Principal) -> str | None:
    try:
        asyncio.run(users.check(principal, _direct))
    except Problem as problem:
        assert problem.status == 401
        return problem.detail
    return None


def test_user_state_is_cached_for_the_ttl_and_forgotten_on_demand() -> None:
    platform = Platform.from_env(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    user = platform.users.register(EMAIL, UserRole.USER, "h")
    clock = Clock()
    current = CurrentUsers(platform.users, ttl_seconds=5, clock=clock)
    token = embedded(user.generation, subject="Alice@Example.com")

    assert check(current, token) is None
    platform.users.remove(EMAIL)
    clock.now += 4.9
    assert check(current, token) is None  # still cached: the bound is the TTL
    clock.now += 0.2
    assert check(current, token) == "user removed"

    platform.users.register(EMAIL, UserRole.USER, "h2")
    assert check(current, embedded(3)) == "user removed"  # cached
    current.forget("ALICE@example.com")  # any spelling: one entry per user
    assert check(current, embedded(3)) is None
    assert check(current, embedded(1)) is not None
