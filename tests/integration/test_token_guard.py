"""The token endpoint backs off secret guessing: 429 with Retry-After per client id and per remote address."""

from __future__ import annotations

import pytest

from adapters.http.token_guard import CAPACITY, TokenGuard
from adapters.oauth import hash_secret
from cloudbay_domain.user import UserRole
from tests.support import LiveServer

GRANT = {"grant_type": "client_credentials"}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_guessing_secrets_is_slowed_down(server: LiveServer) -> None:
    server.platform.users.register("ops@example.com", UserRole.OPERATOR, hash_secret("s3cret"))
    with server.http(role=None) as http:
        wrong = [http.post("/oauth/token", data=GRANT, auth=("ops@example.com", f"guess-{i}")) for i in range(50)]
        right = http.post("/oauth/token", data=GRANT, auth=("ops@example.com", "s3cret"))
    statuses = [r.status_code for r in wrong]
    assert statuses == [401] * CAPACITY + [429] * (50 - CAPACITY)
    slowed = wrong[-1]
    assert slowed.json()["error"] == "slow_down" and int(slowed.headers["retry-after"]) >= 1
    assert slowed.headers["cache-control"] == "no-store"
    assert right.status_code == 429  # during the back-off a right secret is not told apart from a wrong one


def test_buckets_refill_and_keys_are_separate() -> None:
    now = [0.0]
    guard = TokenGuard(capacity=2, window=60.0, clock=lambda: now[0])
    for _ in range(2):
        assert guard.retry_after(["client:a", "address:1"]) is None
        guard.failed(["client:a", "address:1"])
    assert guard.retry_after(["client:a", "address:2"]) == 30  # the client's bucket is empty
    assert guard.retry_after(["client:b", "address:1"]) == 30  # and so is the address's
    assert guard.retry_after(["client:b", "address:2"]) is None
    now[0] = 30.0
    assert guard.retry_after(["client:a"]) is None


def test_memory_is_bounded() -> None:
    guard = TokenGuard(capacity=2, max_keys=100)
    for i in range(1000):
        guard.failed([f"address:{i}"])
    assert len(guard._buckets) <= 100
