"""The REST API over real HTTP against a running server, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from adapters.auth import Role
from tests.support import LiveServer

PROBLEM = "application/problem+json"


def test_whitelisting_creates_a_charger_and_a_second_time_conflicts(server: LiveServer) -> None:
    with server.http() as http:
        created = http.post("/api/v1/chargers", json={"serial_number": "CB-200", "hardware_family": "alpha"})
        assert created.status_code == 201
        assert created.headers["location"] == "/api/v1/chargers/CB-200"
        body = created.json()
        assert body["station_id"] == "CB-200" and body["hardware_family"] == "alpha"
        assert body["presence"] == "offline" and body["_links"]["events"]["href"] == "/api/v1/chargers/CB-200/events"
        before = server.head()
        again = http.post("/api/v1/chargers", json={"serial_number": "CB-200", "hardware_family": "beta"})
        assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
        assert again.json()["status"] == 409 and "already whitelisted" in again.json()["detail"]
        assert server.head() == before
        assert http.get("/api/v1/chargers/CB-200").json()["hardware_family"] == "alpha"


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"hardware_family": "alpha"}', 422),
        (b'{"serial_number": "CB-1", "colour": "red"}', 422),
        (b'{"serial_number": "has/slash"}', 422),
        (b'{"serial_number": ""}', 422),
        (b'["CB-1"]', 422),
    ],
)
def test_bad_whitelist_bodies_are_problems_and_write_nothing(
    shared_server: LiveServer, body: bytes, status: int
) -> None:
    server = shared_server
    with server.http() as http:
        before = server.head()
        response = http.post("/api/v1/chargers", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    assert server.head() == before


def test_unknown_charger_is_404(server: LiveServer) -> None:
    with server.http() as http:
        for path in ("/api/v1/chargers/NOPE", "/api/v1/chargers/NOPE/events"):
            response = http.get(path)
            assert response.status_code == 404 and response.headers["content-type"] == PROBLEM


def test_fleet_is_paged_and_filtered(server: LiveServer) -> None:
    for n in range(5):
        server.whitelist(f"CB-3{n:02d}", "alpha" if n % 2 else "beta")
    server.settle()
    with server.http() as http:
        first = http.get("/api/v1/chargers?limit=2").json()
        assert [c["station_id"] for c in first["items"]] == ["CB-300", "CB-301"]
        second = http.get(first["_links"]["next"]["href"]).json()
        assert [c["station_id"] for c in second["items"]] == ["CB-302", "CB-303"]
        third = http.get(second["_links"]["next"]["href"]).json()
        assert [c["station_id"] for c in third["items"]] == ["CB-304"] and "next" not in third["_links"]
        alpha = http.get("/api/v1/chargers?family=alpha").json()
        assert [c["station_id"] for c in alpha["items"]] == ["CB-301", "CB-303"]
        assert http.get("/api/v1/chargers?presence=online").json()["items"] == []
        assert http.get("/api/v1/chargers?presence=sideways").status_code == 400
        assert http.get("/api/v1/chargers?limit=0").status_code == 400
        assert http.get("/api/v1/chargers?limit=abc").status_code == 400


def test_event_history_is_in_order_for_auditors(server: LiveServer) -> None:
    server.whitelist("CB-400", "alpha")
    with server.http() as http:
        history = http.get("/api/v1/chargers/CB-400/events").json()
    assert [(e["version"], e["type"]) for e in history["items"]] == [(1, "Charger.Whitelisted")]
    assert history["items"][0]["data"]["hardware_family"] == "alpha"


def test_no_token_bad_tokens_and_wrong_role(server: LiveServer) -> None:
    assert server.runtime is not None
    with server.http(role=None) as anonymous:
        missing = anonymous.get("/api/v1/chargers")
        assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
        assert missing.headers["content-type"] == PROBLEM

        expired = server.runtime.issuer.issue("operator@example.com", [Role.OPERATOR], ttl_seconds=-120)
        wrong_audience = server.runtime.issuer.issue("operator@example.com", [Role.OPERATOR], audience="someone-else")
        other_key = ec.generate_private_key(ec.SECP256R1())
        now = int(time.time())
        forged = jwt.encode(
            {
                "iss": server.settings.oauth_issuer,
                "aud": server.settings.oauth_audience,
                "sub": "mallory",
                "iat": now,
                "nbf": now,
                "exp": now + 600,
                "roles": ["operator"],
            },
            other_key,
            algorithm="ES256",
            headers={"kid": server.runtime.signing_key.kid},
        )
        for token in (expired, wrong_audience, forged, "not-a-jwt"):
            response = anonymous.get("/api/v1/chargers", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 401, token
            assert 'error="invalid_token"' in response.headers["www-authenticate"]
    with server.http(role=Role.USER) as user:
        before = server.head()
        assert user.get("/api/v1/chargers").status_code == 403
        forbidden = user.post("/api/v1/chargers", json={"serial_number": "CB-500"})
        assert forbidden.status_code == 403 and forbidden.headers["content-type"] == PROBLEM
        assert server.head() == before


def test_client_credentials_grant_over_http(server: LiveServer) -> None:
    from adapters.oauth import hash_secret
    from cloudbay_domain.user import UserRole

    server.platform.users.register("ops@example.com", UserRole.OPERATOR, hash_secret("s3cret"))
    with server.http(role=None) as http:
        basic = base64.b64encode(b"ops@example.com:s3cret").decode()
        granted = http.post(
            "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
        )
        assert granted.status_code == 200 and granted.headers["cache-control"] == "no-store"
        token = granted.json()["access_token"]
        assert http.get("/api/v1/chargers", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        wrong = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": "ops@example.com", "client_secret": "nope"},
        )
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
        assert http.post("/oauth/token", json={"grant_type": "client_credentials"}).status_code == 400
        jwks = http.get("/.well-known/jwks.json").json()
        assert jwks["keys"][0]["kid"] == server.runtime.signing_key.kid  # type: ignore[union-attr]


def test_health_and_readiness(server: LiveServer) -> None:
    with server.http(role=None) as http:
        health = http.get("/healthz")
        ready = http.get("/readyz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert ready.status_code == 200 and ready.json()["read_models"]["fleet"]["failure"] is None


def test_unknown_route_and_method_are_problems(server: LiveServer) -> None:
    with server.http() as http:
        missing = http.get("/api/v1/nothing-here")
        wrong_method = http.delete("/api/v1/chargers")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM


def test_tokens_from_an_external_issuer_are_accepted(
    store_url: str, tmp_path: Path, jwks_url: str, rsa_key: Any
) -> None:
    """Keycloak/Cognito style: the platform as a resource server of another issuer, keys fetched from its JWKS."""
    issuer = "https://id.example.com/realms/cloudbay"
    server = LiveServer(store_url, tmp_path / "data", oauth_issuer=issuer, oauth_jwks_url=jwks_url).start()
    try:
        now = int(time.time())
        claims = {"iss": issuer, "aud": "cloudbay-api", "sub": "kc-ops", "iat": now, "nbf": now, "exp": now + 300}
        operator = jwt.encode(
            {**claims, "realm_access": {"roles": ["operator"]}}, rsa_key, algorithm="RS256", headers={"kid": "ext-1"}
        )
        user = jwt.encode({**claims, "cognito:groups": ["user"]}, rsa_key, algorithm="RS256", headers={"kid": "ext-1"})
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            assert http.get("/api/v1/chargers", headers={"Authorization": f"Bearer {operator}"}).status_code == 200
            assert http.get("/api/v1/chargers", headers={"Authorization": f"Bearer {user}"}).status_code == 403
            other_issuer = jwt.encode(
                {**claims, "iss": "https://elsewhere.example.com"}, rsa_key, algorithm="RS256", headers={"kid": "ext-1"}
            )
            refused = http.get("/api/v1/chargers", headers={"Authorization": f"Bearer {other_issuer}"})
            assert refused.status_code == 401 and refused.headers["content-type"] == PROBLEM
    finally:
        server.stop()
