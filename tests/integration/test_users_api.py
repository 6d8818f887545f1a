"""Users over real HTTP, on SQLite and PostgreSQL: who am I, the operators' user list, removal and secret
rotation, and the tokens they revoke (REST and the live WebSocket alike)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from adapters.auth import Role
from adapters.oauth import hash_secret
from cloudbay_domain.user import UserRole
from tests.support import LiveServer, wait_until

PROBLEM = "application/problem+json"
OPS = "operator@example.com"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def granted(server: LiveServer, email: str, secret: str) -> httpx.Response:
    data = {"grant_type": "client_credentials"}
    return httpx.post(f"{server.base_url}/oauth/token", data=data, auth=(email, secret), timeout=10)


def test_me_for_a_user_and_an_operator(server: LiveServer) -> None:
    with server.http(Role.USER, email="driver@example.com") as user, server.http() as operator:
        me = user.get("/api/v1/users/me")
        ops = operator.get("/api/v1/users/me")
    assert me.status_code == 200
    assert me.json() == {
        "email": "driver@example.com",
        "role": "user",
        "roles": ["user"],
        "_links": {
            "self": {"href": "/api/v1/users/me"},
            "energy": {"href": "/api/v1/users/me/energy"},
            "transactions": {"href": "/api/v1/transactions"},
            "rfid_cards": {"href": "/api/v1/rfid-cards"},
        },
    }
    assert ops.status_code == 200 and (ops.json()["email"], ops.json()["role"]) == (OPS, "operator")
    assert httpx.get(f"{server.base_url}/api/v1/users/me", timeout=10).status_code == 401


def test_operators_list_and_read_users_and_users_may_not(server: LiveServer) -> None:
    for email in ("b@example.com", "a+tag@example.com", "c@example.com"):
        server.platform.users.register(email, UserRole.USER, "h")
    with server.http() as operator, server.http(Role.USER, email="d@example.com") as user:
        server.settle()
        first = operator.get("/api/v1/users?limit=2").json()
        assert [u["email"] for u in first["items"]] == ["a+tag@example.com", "b@example.com"]
        second = operator.get(first["_links"]["next"]["href"]).json()
        assert [u["email"] for u in second["items"]] == ["c@example.com", "d@example.com"]
        third = operator.get(second["_links"]["next"]["href"]).json()
        assert [u["email"] for u in third["items"]] == [OPS] and "next" not in third["_links"]

        one = operator.get("/api/v1/users/A+TAG@example.com")
        assert one.status_code == 200
        body = one.json()
        assert (body["email"], body["role"], body["status"]) == ("a+tag@example.com", "user", "active")
        assert body["version"] == 1
        assert body["registered_at"] and body["_links"]["self"]["href"] == "/api/v1/users/a%2Btag@example.com"
        assert operator.get(body["_links"]["self"]["href"]).json()["email"] == "a+tag@example.com"
        for missing in ("/api/v1/users/nobody@example.com", "/api/v1/users/not-an-email"):
            refused = operator.get(missing)
            assert refused.status_code == 404 and refused.headers["content-type"] == PROBLEM
        assert operator.get("/api/v1/users?status=gone").status_code == 400
        assert operator.delete("/api/v1/users/nobody@example.com").status_code == 404
        assert operator.post("/api/v1/users/nobody@example.com/secret").status_code == 404

        before = server.head()
        for method, path in [
            ("GET", "/api/v1/users"),
            ("GET", "/api/v1/users/b@example.com"),
            ("DELETE", "/api/v1/users/b@example.com"),
            ("POST", "/api/v1/users/b@example.com/secret"),
        ]:
            forbidden = user.request(method, path)
            assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM, path
        assert server.head() == before


def test_removing_a_user_revokes_their_tokens(server: LiveServer) -> None:
    server.platform.users.register("driver@example.com", UserRole.USER, hash_secret("s1"))
    granted_token = granted(server, "driver@example.com", "s1").json()["access_token"]
    cli_token = server.token("driver@example.com", Role.USER)
    with server.http() as operator, httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        for token in (granted_token, cli_token):
            assert anonymous.get("/api/v1/users/me", headers=bearer(token)).status_code == 200

        assert operator.delete("/api/v1/users/Driver@example.com").status_code == 204

        for token in (granted_token, cli_token):  # removed through this node: at once
            revoked = anonymous.get("/api/v1/users/me", headers=bearer(token))
            assert revoked.status_code == 401 and revoked.json()["detail"] == "user removed"
            assert 'error="invalid_token"' in revoked.headers["www-authenticate"]
        assert granted(server, "driver@example.com", "s1").status_code == 401
        shown = operator.get("/api/v1/users/driver@example.com").json()
        assert (shown["status"], shown["version"]) == ("removed", 2)
        assert "driver@example.com" not in [u["email"] for u in operator.get("/api/v1/users").json()["items"]]
        removed = operator.get("/api/v1/users?status=removed").json()["items"]
        assert [u["email"] for u in removed] == ["driver@example.com"]
        assert operator.delete("/api/v1/users/driver@example.com").status_code == 409
        assert operator.post("/api/v1/users/driver@example.com/secret").status_code == 409
        myself = operator.delete(f"/api/v1/users/{OPS}")
        assert myself.status_code == 409 and myself.headers["content-type"] == PROBLEM

    async def live(token: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(f"ws://127.0.0.1:{server.port}/api/v1/live?charger=CB-1&access_token={token}"):
                pass
        return refused.value.response.status_code

    assert asyncio.run(live(cli_token)) == 401  # the live feed checks the same way

    server.platform.users.register("driver@example.com", UserRole.USER, hash_secret("s2"))  # registered again
    assert server.runtime is not None
    server.runtime.current_users.forget("driver@example.com")  # registered elsewhere: else seen within the TTL
    with httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        assert anonymous.get("/api/v1/users/me", headers=bearer(cli_token)).status_code == 401  # still revoked
        again = granted(server, "driver@example.com", "s2").json()["access_token"]
        assert anonymous.get("/api/v1/users/me", headers=bearer(again)).status_code == 200


def test_rotating_a_secret_revokes_the_tokens_issued_before(server: LiveServer) -> None:
    server.platform.users.register("driver@example.com", UserRole.USER, hash_secret("old"))
    old_token = granted(server, "driver@example.com", "old").json()["access_token"]
    with server.http() as operator, httpx.Client(base_url=server.base_url, timeout=10) as anonymous:
        assert anonymous.get("/api/v1/users/me", headers=bearer(old_token)).status_code == 200

        rotated = operator.post("/api/v1/users/driver@example.com/secret")

        assert rotated.status_code == 200 and rotated.headers["cache-control"] == "no-store"
        body = rotated.json()
        assert (body["email"], body["client_id"]) == ("driver@example.com", "driver@example.com")
        secret = body["client_secret"]
        assert len(secret) >= 32
        assert anonymous.get("/api/v1/users/me", headers=bearer(old_token)).status_code == 401
        assert granted(server, "driver@example.com", "old").status_code == 401
        new = granted(server, "driver@example.com", secret)
        assert new.status_code == 200
        assert anonymous.get("/api/v1/users/me", headers=bearer(new.json()["access_token"])).status_code == 200
        assert operator.get("/api/v1/users/driver@example.com").json()["version"] == 2


def test_a_removal_elsewhere_is_seen_within_the_cache_ttl(store_url: str, tmp_path: Path) -> None:
    """The CLI or another node removed the user: this node's cached state is trusted for its TTL only."""
    server = LiveServer(store_url, tmp_path / "data", user_cache_seconds=0.5).start()
    try:
        token = server.token("driver@example.com", Role.USER)
        with httpx.Client(base_url=server.base_url, headers=bearer(token), timeout=10) as http:
            assert http.get("/api/v1/users/me").status_code == 200  # the user's state is cached now
            server.platform.users.remove("driver@example.com")  # not through this node's REST API
            removed_at = time.monotonic()
            wait_until(lambda: http.get("/api/v1/users/me").status_code == 401, timeout=3)
            assert time.monotonic() - removed_at < 0.5 + 1.0
    finally:
        server.stop()
