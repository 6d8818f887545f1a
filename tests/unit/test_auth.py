"""Unit tests for adapters.auth: token issue/verify, external JWKS, roles, secrets, client-credentials grant."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import pathlib
import stat
import time
from collections.abc import Iterable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.auth import (
    AuthSettings,
    Principal,
    Role,
    SigningKey,
    TokenIssuer,
    TokenVerifier,
    bearer_token,
    require,
)
from adapters.http.problems import Problem
from adapters.oauth import OAuthError, check_secret, client_credentials_grant, hash_secret, new_client_secret

ISSUER = "https://cloudbay.test"
SETTINGS = AuthSettings(issuer=ISSUER, audience="cloudbay-api")


@pytest.fixture(scope="module")
def key(tmp_path_factory: pytest.TempPathFactory) -> SigningKey:
    return SigningKey.load_or_create(tmp_path_factory.mktemp("keys") / "signing.pem")


@pytest.fixture
def issuer(key: SigningKey) -> TokenIssuer:
    return TokenIssuer(key, SETTINGS)


@pytest.fixture
def verifier(key: SigningKey) -> TokenVerifier:
    return TokenVerifier(SETTINGS, key)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": "someone", "aud": "cloudbay-api", "iat": now, "exp": now + 300}
    claims.update(overrides)
    return claims


def _rejected(verifier: TokenVerifier, token: str) -> Problem:
    with pytest.raises(Problem) as caught:
        verifier.verify(token)
    problem = caught.value
    assert problem.status == 401
    assert problem.headers["WWW-Authenticate"].startswith('Bearer realm="cloudbay", error="invalid_token"')
    return problem


# --- embedded issuer: round trip and rejections --------------------------------------------------


def test_issue_verify_round_trip(issuer: TokenIssuer, verifier: TokenVerifier, key: SigningKey) -> None:
    token = issuer.issue("ann@example.com", [Role.OPERATOR, Role.USER])
    principal = verifier.verify(token)
    assert principal == Principal("ann@example.com", frozenset({Role.OPERATOR, Role.USER}))
    assert principal.has(Role.OPERATOR)
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key.kid, "typ": "JWT"}
    claims = jwt.decode(token, options={"verify_signature": False})
    assert {"iss", "sub", "aud", "iat", "nbf", "exp", "jti", "roles", "scope"} <= claims.keys()
    assert claims["roles"] == ["operator", "user"]
    assert claims["scope"] == "cloudbay:operator cloudbay:user"
    assert claims["exp"] - claims["iat"] == SETTINGS.token_ttl_seconds


def test_each_token_has_its_own_jti(issuer: TokenIssuer) -> None:
    first, second = (jwt.decode(issuer.issue("a", []), options={"verify_signature": False}) for _ in range(2))
    assert first["jti"] != second["jti"]


def test_expired_token_is_rejected(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    problem = _rejected(verifier, issuer.issue("ann", [Role.USER], ttl_seconds=-(SETTINGS.leeway_seconds + 10)))
    assert problem.detail == "token expired"
    assert 'error_description="token expired"' in problem.headers["WWW-Authenticate"]


def test_token_within_leeway_still_verifies(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    assert verifier.verify(issuer.issue("ann", [Role.USER], ttl_seconds=-5)).subject == "ann"


def test_wrong_audience_is_rejected(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    assert _rejected(verifier, issuer.issue("ann", [Role.USER], audience="other-api")).detail == "wrong audience"


def test_wrong_issuer_is_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    other = TokenIssuer(key, AuthSettings(issuer="https://elsewhere.test"))
    assert _rejected(verifier, other.issue("ann", [Role.USER])).detail == "wrong issuer"


def test_forged_token_with_same_kid_is_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    impostor = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(roles=["operator"]), impostor, algorithm="ES256", headers={"kid": key.kid})
    assert _rejected(verifier, token).detail == "bad signature"


def test_tampered_payload_is_rejected(issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    header, _, signature = issuer.issue("ann", [Role.USER]).split(".")
    payload = _b64(json.dumps(_claims(sub="ann", roles=["operator"])).encode())
    assert _rejected(verifier, f"{header}.{payload}.{signature}").detail == "bad signature"


def test_alg_none_is_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": key.kid}).encode())
    payload = _b64(json.dumps(_claims(roles=["operator"])).encode())
    assert _rejected(verifier, f"{header}.{payload}.").detail == "algorithm not allowed"


def test_hs256_signed_with_public_key_is_rejected(key: SigningKey, verifier: TokenVerifier) -> None:
    public_pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signing_input = ".".join(
        _b64(json.dumps(part).encode())
        for part in ({"alg": "HS256", "typ": "JWT", "kid": key.kid}, _claims(roles=["operator"]))
    )
    signature = _b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    assert _rejected(verifier, f"{signing_input}.{signature}").detail == "algorithm not allowed"


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud", "sub"])
def test_required_claims(key: SigningKey, verifier: TokenVerifier, missing: str) -> None:
    claims = _claims()
    del claims[missing]
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    assert _rejected(verifier, token).detail == f"missing claim {missing}"


def test_garbage_and_unknown_kid_are_rejected(verifier: TokenVerifier) -> None:
    assert _rejected(verifier, "not-a-jwt").detail == "malformed token"
    stranger = ec.generate_private_key(ec.SECP256R1())
    token = jwt.encode(_claims(), stranger, algorithm="ES256", headers={"kid": "someone-else"})
    assert _rejected(verifier, token).detail == "unknown signing key"


def test_unknown_role_names_are_ignored(key: SigningKey, verifier: TokenVerifier) -> None:
    claims = _claims(roles=["admin", "user", 7], scope="openid cloudbay:operator cloudbay:root")
    token = jwt.encode(claims, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    assert verifier.verify(token).roles == frozenset({Role.USER, Role.OPERATOR})
    odd = _claims(roles="operator", realm_access=["operator"], **{"cognito:groups": {"operator": 1}})
    token = jwt.encode(odd, key.private_key, algorithm="ES256", headers={"kid": key.kid})
    assert verifier.verify(token).roles == frozenset()  # wrongly shaped claims grant nothing


# --- Authorization header --------------------------------------------------------------------------


def test_bearer_token_extraction() -> None:
    assert bearer_token({"authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
    assert bearer_token({"Authorization": "bearer  abc.def.ghi "}) == "abc.def.ghi"


def test_missing_authorization_header() -> None:
    with pytest.raises(Problem) as caught:
        bearer_token({})
    assert caught.value.status == 401
    assert caught.value.headers == {"WWW-Authenticate": 'Bearer realm="cloudbay"'}


@pytest.mark.parametrize("value", ["Basic xyz", "Bearer", "Bearer   ", "", "Bearer a b"])
def test_malformed_authorization_header(value: str) -> None:
    with pytest.raises(Problem) as caught:
        bearer_token({"authorization": value})
    assert caught.value.status == 401
    assert 'error="invalid_request"' in caught.value.headers["WWW-Authenticate"]


# --- external issuer (JWKS over HTTP) -------------------------------------------------------------


def _external_token(key: rsa.RSAPrivateKey, claims: dict[str, Any], alg: str = "RS256", kid: str = "ext-1") -> str:
    return jwt.encode(_claims(**claims), key, algorithm=alg, headers={"kid": kid})


def test_keycloak_realm_roles(jwks_url: str, rsa_key: rsa.RSAPrivateKey, key: SigningKey) -> None:
    verifier = TokenVerifier(AuthSettings(issuer=ISSUER, jwks_url=jwks_url), key)
    token = _external_token(rsa_key, {"sub": "kc-user", "realm_access": {"roles": ["operator", "offline_access"]}})
    assert verifier.verify(token) == Principal("kc-user", frozenset({Role.OPERATOR}))


def test_cognito_groups_and_ps256(jwks_url: str, rsa_key: rsa.RSAPrivateKey) -> None:
    verifier = TokenVerifier(AuthSettings(issuer=ISSUER, jwks_url=jwks_url), None)
    token = _external_token(rsa_key, {"cognito:groups": ["user", "operator"]}, alg="PS256")
    assert verifier.verify(token).roles == frozenset({Role.USER, Role.OPERATOR})


def test_external_rejections(jwks_url: str, rsa_key: rsa.RSAPrivateKey, issuer: TokenIssuer) -> None:
    verifier = TokenVerifier(AuthSettings(issuer=ISSUER, jwks_url=jwks_url), None)
    assert _rejected(verifier, _external_token(rsa_key, {}, kid="rotated-away")).detail == "unknown signing key"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _rejected(verifier, _external_token(other, {})).detail == "bad signature"
    # embedded tokens are not accepted when no embedded key is configured
    assert _rejected(verifier, issuer.issue("ann", [Role.OPERATOR])).detail == "unknown signing key"


# --- roles --------------------------------------------------------------------------------------


def test_require() -> None:
    operator = Principal("op", frozenset({Role.OPERATOR}))
    user = Principal("u", frozenset({Role.USER}))
    require(operator, Role.OPERATOR)
    require(user, Role.OPERATOR, Role.USER)
    with pytest.raises(Problem) as caught:
        require(user, Role.OPERATOR)
    assert caught.value.status == 403 and caught.value.title == "Forbidden"
    assert "operator" in (caught.value.detail or "")


# --- signing key file -----------------------------------------------------------------------------


def test_signing_key_is_stable_and_private(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "nested" / "dir" / "signing.pem"
    first = SigningKey.load_or_create(path)
    second = SigningKey.load_or_create(path)
    assert first.kid == second.kid
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["signing.pem"]  # no temp file left behind
    (jwk,) = first.jwks()["keys"]
    assert jwk["kid"] == first.kid and jwk["alg"] == "ES256" and jwk["use"] == "sig"
    assert "d" not in jwk  # public only
    assert SigningKey.load_or_create(tmp_path / "other.pem").kid != first.kid


def test_kid_is_rfc7638_thumbprint(key: SigningKey) -> None:
    (jwk,) = key.jwks()["keys"]
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    assert key.kid == _b64(hashlib.sha256(canonical.encode()).digest())


# --- client secrets and the client-credentials grant ----------------------------------------------


def test_hash_and_check_secret() -> None:
    secret = new_client_secret()
    assert len(secret) >= 43
    hashed = hash_secret(secret)
    assert hashed.startswith("scrypt$") and secret not in hashed
    assert hashed != hash_secret(secret)  # salted
    assert check_secret(secret, hashed)
    assert not check_secret(secret + "x", hashed)
    assert not check_secret(secret, "garbage")
    assert not check_secret(secret, "scrypt$3$8$1$AAAA$AAAA")


CLIENT_SECRET = "s3cret:with/odd chars"


@pytest.fixture(scope="module")
def clients() -> dict[str, tuple[str, Iterable[Role], int]]:
    return {"station-admin": (hash_secret(CLIENT_SECRET), [Role.OPERATOR], 1)}


def _grant(
    form: dict[str, str],
    authorization: str | None,
    clients: dict[str, tuple[str, Iterable[Role], int]],
    issuer: TokenIssuer,
) -> dict[str, Any]:
    return asyncio.run(client_credentials_grant(form, authorization, clients.get, issuer))


def _basic(client_id: str, secret: str) -> str:
    from urllib.parse import quote_plus

    return "Basic " + base64.b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def test_grant_with_basic_auth(clients: dict[str, Any], issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    reply = _grant({"grant_type": "client_credentials"}, _basic("station-admin", CLIENT_SECRET), clients, issuer)
    assert reply["token_type"] == "Bearer"
    assert reply["expires_in"] == SETTINGS.token_ttl_seconds
    assert reply["scope"] == "cloudbay:operator"
    assert verifier.verify(reply["access_token"]) == Principal("station-admin", frozenset({Role.OPERATOR}))


def test_grant_with_form_credentials(clients: dict[str, Any], issuer: TokenIssuer, verifier: TokenVerifier) -> None:
    form = {"grant_type": "client_credentials", "client_id": "station-admin", "client_secret": CLIENT_SECRET}
    reply = _grant(form, None, clients, issuer)
    assert verifier.verify(reply["access_token"]).has(Role.OPERATOR)


@pytest.mark.parametrize(
    ("form", "authorization"),
    [
        ({"grant_type": "client_credentials"}, _basic("station-admin", "wrong")),
        ({"grant_type": "client_credentials", "client_id": "station-admin", "client_secret": "wrong"}, None),
        ({"grant_type": "client_credentials"}, _basic("nobody", CLIENT_SECRET)),
        ({"grant_type": "client_credentials"}, None),
        ({"grant_type": "client_credentials"}, "Basic !!!not-base64"),
        ({"grant_type": "client_credentials"}, "Bearer abc"),
    ],
)
def test_grant_rejects_bad_clients(
    clients: dict[str, Any], issuer: TokenIssuer, form: dict[str, str], authorization: str | None
) -> None:
    with pytest.raises(OAuthError) as caught:
        _grant(form, authorization, clients, issuer)
    assert (caught.value.status, caught.value.error) == (401, "invalid_client")
    assert caught.value.headers == {"WWW-Authenticate": 'Basic realm="cloudbay"'}
    assert caught.value.body()["error"] == "invalid_client"


def test_grant_rejects_wrong_grant_type(clients: dict[str, Any], issuer: TokenIssuer) -> None:
    with pytest.raises(OAuthError) as caught:
        _grant({"grant_type": "password"}, _basic("station-admin", CLIENT_SECRET), clients, issuer)
    assert (caught.value.status, caught.value.error) == (400, "unsupported_grant_type")
    with pytest.raises(OAuthError) as missing:
        _grant({}, _basic("station-admin", CLIENT_SECRET), clients, issuer)
    assert (missing.value.status, missing.value.error) == (400, "invalid_request")


def test_grant_rejects_two_authentication_methods(clients: dict[str, Any], issuer: TokenIssuer) -> None:
    form = {"grant_type": "client_credentials", "client_id": "station-admin", "client_secret": CLIENT_SECRET}
    with pytest.raises(OAuthError) as caught:
        _grant(form, _basic("station-admin", CLIENT_SECRET), clients, issuer)
    assert (caught.value.status, caught.value.error) == (400, "invalid_request")
