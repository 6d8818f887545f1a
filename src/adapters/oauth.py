"""Client secrets and the OAuth2 client-credentials grant of the embedded issuer."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from adapters.auth import REALM, Role, TokenIssuer, scope_of

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1


def hash_secret(secret: str) -> str:
    """scrypt-hash a client secret as ``scrypt$n$r$p$salt_b64$hash_b64``."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, dklen=32)
    encoded = "$".join(base64.b64encode(b).decode("ascii") for b in (salt, digest))
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${encoded}"


def check_secret(secret: str, hashed: str) -> bool:
    """Constant-time check of ``secret`` against a ``hash_secret`` value; malformed hashes never match."""
    try:
        scheme, n_s, r_s, p_s, salt_b64, digest_b64 = hashed.split("$")
        n, r, p = int(n_s), int(r_s), int(p_s)
        salt, expected = base64.b64decode(salt_b64, validate=True), base64.b64decode(digest_b64, validate=True)
        if scheme != "scrypt" or not (1 < n <= 2**20 and 0 < r <= 32 and 0 < p <= 16) or not expected:
            return False
        actual = hashlib.scrypt(
            secret.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected), maxmem=256 * n * r * p + 2**20
        )
    except ValueError:  # includes binascii.Error
        return False
    return hmac.compare_digest(actual, expected)


def new_client_secret() -> str:
    return secrets.token_urlsafe(32)


class OAuthError(Exception):
    """A token-endpoint error, rendered by the endpoint as RFC 6749 §5.2 JSON."""

    def __init__(self, status: int, error: str, description: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{error}: {description}")
        self.status, self.error, self.description = status, error, description
        self.headers = headers or {}

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


def _invalid_client(description: str = "client authentication failed") -> OAuthError:
    return OAuthError(401, "invalid_client", description, {"WWW-Authenticate": f'Basic realm="{REALM}"'})


def _client_credentials(form: Mapping[str, str], authorization: str | None) -> tuple[str, str]:
    form_id, form_secret = form.get("client_id"), form.get("client_secret")
    if authorization is None:
        if not form_id or form_secret is None:
            raise _invalid_client("client credentials missing")
        return form_id, form_secret
    if form_secret is not None:
        raise OAuthError(400, "invalid_request", "use exactly one client authentication method")
    scheme, _, encoded = authorization.strip().partition(" ")
    try:
        client_id, sep, secret = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except ValueError:
        raise _invalid_client("malformed Basic credentials") from None
    if scheme.lower() != "basic" or not sep or not client_id:
        raise _invalid_client("malformed Basic credentials")
    return unquote_plus(client_id), unquote_plus(secret)  # RFC 6749 §2.3.1: form-encoded before Basic


def claimed_client_id(form: Mapping[str, str], authorization: str | None) -> str | None:
    """The client id a token request names (for the back-off), or None when it names none readable."""
    try:
        return _client_credentials(form, authorization)[0].strip().lower()
    except OAuthError:
        return None


_DUMMY_HASH = f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${'A' * 22}==${'A' * 43}="  # well-formed, matches nothing


async def client_credentials_grant(
    form: Mapping[str, str],
    authorization: str | None,
    lookup: Callable[[str], tuple[str, Iterable[Role], int | None] | None],
    issuer: TokenIssuer,
) -> dict[str, Any]:
    """RFC 6749 §4.4: authenticate the client and issue it an access token, or raise OAuthError.

    ``lookup``: a client id's secret hash, roles and user generation (carried by the token, so rotating the
    secret or removing the user revokes it), or None for an unknown client."""
    grant_type = form.get("grant_type")
    if not grant_type:
        raise OAuthError(400, "invalid_request", "grant_type is required")
    if grant_type != "client_credentials":
        raise OAuthError(400, "unsupported_grant_type", "only client_credentials is supported")
    client_id, secret = _client_credentials(form, authorization)
    found = lookup(client_id)
    # scrypt is CPU-bound: keep it off the event loop; hash even for unknown ids so timing does not tell.
    if not await asyncio.to_thread(check_secret, secret, found[0] if found else _DUMMY_HASH) or found is None:
        raise _invalid_client()
    roles = frozenset(Role(r) for r in found[1])  # a requested `scope` is not narrowed; the reply states the grant
    ttl = issuer.settings.token_ttl_seconds
    token = issuer.issue(client_id, roles, ttl_seconds=ttl, generation=found[2])
    return {"access_token": token, "token_type": "Bearer", "expires_in": ttl, "scope": scope_of(roles)}
