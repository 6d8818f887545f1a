"""Who is calling, decided in one place: the platform is an OAuth2 resource server.

Bearer JWTs come from a configured external issuer (checked against its JWKS) or from the
embedded issuer (an ES256 key on disk), which also serves the client-credentials grant.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
import os
import pathlib
import time
import uuid
from collections.abc import Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm

from adapters.http.problems import Problem

REALM = "cloudbay"
SCOPE_PREFIX = "cloudbay:"
GENERATION_CLAIM = "gen"  # the user's generation (cloudbay_domain.user.User.generation) when the token was issued
_ALLOWED_ALGS = frozenset({"ES256", "RS256", "PS256"})  # never "none", never HS* (key-confusion)


class Role(str, enum.Enum):
    """What a caller may do: operators run the network, manufacturers the production line, users charge."""

    OPERATOR = "operator"
    MANUFACTURER = "manufacturer"
    USER = "user"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: token subject and the roles it carries.

    ``embedded``: the token was signed by the embedded issuer; ``generation``: the user generation it was
    issued at (``gen`` claim; None when absent). Token facts, not identity: equality ignores them.
    """

    subject: str
    roles: frozenset[Role]
    generation: int | None = field(default=None, compare=False)
    embedded: bool = field(default=False, compare=False)

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class AuthSettings:
    """Expected issuer/audience, the external JWKS (None = embedded issuer only), and lifetimes."""

    issuer: str
    audience: str = "cloudbay-api"
    jwks_url: str | None = None
    token_ttl_seconds: int = 3600
    leeway_seconds: int = 30


class MissingSigningKey(FileNotFoundError):
    """No signing key where the deployment keeps it; only ``cloudbay serve`` creates one."""


class SigningKey:
    """The embedded issuer's ES256 (P-256) key; its kid is the RFC 7638 JWK thumbprint."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey) -> None:
        if not isinstance(private_key.curve, ec.SECP256R1):
            raise TypeError("the embedded signing key must be an EC P-256 key")
        self.private_key = private_key
        self.public_key = private_key.public_key()
        jwk: dict[str, Any] = json.loads(str(ECAlgorithm.to_jwk(self.public_key)))
        self._public_jwk = {k: jwk[k] for k in ("kty", "crv", "x", "y")}
        canonical = json.dumps(self._public_jwk, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode("utf-8")).digest()
        self.kid: str = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def secret(self) -> bytes:
        """Key material for the platform's own MACs (quote ids), derived apart from the signing use."""
        scalar = self.private_key.private_numbers().private_value.to_bytes(32, "big")
        return hashlib.sha256(b"cloudbay mac key\0" + scalar).digest()

    @classmethod
    def load_or_create(cls, path: pathlib.Path) -> SigningKey:
        """Load the PEM key at ``path``, creating it (mode 0600, parent dirs too) if missing."""
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
                os.fchmod(f.fileno(), 0o600)
                f.write(pem)
            with suppress(FileExistsError):  # lost a creation race: use the winner's key
                os.link(tmp, path)  # atomic and exclusive: readers see a complete file or none
            tmp.unlink()
        return cls.load(path)

    @classmethod
    def load(cls, path: pathlib.Path) -> SigningKey:
        """Load the PEM key at ``path``; never create one (a CLI must not mint a key the servers do not know)."""
        if not path.exists():
            raise MissingSigningKey(
                f"no token-signing key at {path.resolve()} (CLOUDBAY_SIGNING_KEY, default"
                " $CLOUDBAY_DATA_DIR/signing-key.pem): point CLOUDBAY_SIGNING_KEY at the deployment's key;"
                " `cloudbay serve` creates it on its first start"
            )
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{path} does not hold an EC private key")
        return cls(key)

    def jwks(self) -> dict[str, Any]:
        """The public JWK Set to publish for this key."""
        return {"keys": [{**self._public_jwk, "kid": self.kid, "alg": "ES256", "use": "sig"}]}


def scope_of(roles: Iterable[Role]) -> str:
    return " ".join(sorted(SCOPE_PREFIX + r.value for r in roles))


class TokenIssuer:
    """Issues ES256 access tokens signed with the embedded key."""

    def __init__(self, key: SigningKey, settings: AuthSettings) -> None:
        self.key = key
        self.settings = settings

    def issue(
        self,
        subject: str,
        roles: Iterable[Role],
        *,
        ttl_seconds: int | None = None,
        audience: str | None = None,
        generation: int | None = None,
    ) -> str:
        """A signed token for ``subject``; a negative ``ttl_seconds`` yields an already-expired one.

        ``generation``: the user's current generation, so that rotating their secret or removing them revokes
        the token (adapters.current_users); a token without one is refused by the REST API."""
        if not subject:
            raise ValueError("a token needs a subject")
        ttl = self.settings.token_ttl_seconds if ttl_seconds is None else ttl_seconds
        now, role_set = int(time.time()), {Role(r) for r in roles}
        claims: dict[str, Any] = {
            "iss": self.settings.issuer,
            "sub": subject,
            "aud": audience or self.settings.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "roles": sorted(r.value for r in role_set),
            "scope": scope_of(role_set),
        }
        if generation is not None:
            claims[GENERATION_CLAIM] = generation
        return jwt.encode(claims, self.key.private_key, algorithm="ES256", headers={"kid": self.key.kid})


def _unauthorized(reason: str, error: str = "invalid_token") -> Problem:
    challenge = f'Bearer realm="{REALM}", error="{error}", error_description="{reason}"'
    return Problem(401, "Unauthorized", detail=reason, headers={"WWW-Authenticate": challenge})


def invalid_token(reason: str) -> Problem:
    """The 401 for a token that verified but is no longer good (a removed user, a rotated secret)."""
    return _unauthorized(reason)


def _generation_of(claims: Mapping[str, Any]) -> int | None:
    value = claims.get(GENERATION_CLAIM)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _roles_from(claims: Mapping[str, Any]) -> frozenset[Role]:
    names: list[Any] = []
    realm_access = claims.get("realm_access")
    keycloak = realm_access.get("roles") if isinstance(realm_access, dict) else None
    for source in (claims.get("roles"), keycloak, claims.get("cognito:groups")):
        if isinstance(source, list):
            names.extend(source)
    scope = claims.get("scope")
    if isinstance(scope, str):
        names.extend(s[len(SCOPE_PREFIX) :] for s in scope.split() if s.startswith(SCOPE_PREFIX))
    known = {r.value: r for r in Role}
    return frozenset(known[n] for n in names if isinstance(n, str) and n in known)


_FAILURES: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidSignatureError, "bad signature"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed for this key"),
    (jwt.PyJWKClientConnectionError, "issuer signing keys unavailable"),
    (jwt.PyJWKClientError, "unknown signing key"),
    (jwt.DecodeError, "malformed token"),
)


class TokenVerifier:
    """Turns a bearer token into a Principal, or raises a 401 Problem saying why not.

    Blocking: a JWKS fetch (cached for 5 minutes) may hit the network.
    """

    def __init__(self, settings: AuthSettings, embedded_key: SigningKey | None) -> None:
        self.settings = settings
        self.embedded_key = embedded_key
        self._jwks = jwt.PyJWKClient(settings.jwks_url, lifespan=300, timeout=5) if settings.jwks_url else None

    def _key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, list[str]]:
        kid = header.get("kid")
        if self.embedded_key is not None and kid == self.embedded_key.kid:
            return self.embedded_key.public_key, ["ES256"]
        if self._jwks is None or not isinstance(kid, str):
            raise _unauthorized("unknown signing key")
        key = self._jwks.get_signing_key_from_jwt(token).key
        if isinstance(key, rsa.RSAPublicKey):
            return key, ["RS256", "PS256"]
        if isinstance(key, ec.EllipticCurvePublicKey):
            return key, ["ES256"]
        raise _unauthorized("unsupported signing key type")

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in _ALLOWED_ALGS:
                raise _unauthorized("algorithm not allowed")
            key, algorithms = self._key_for(token, header)
            claims = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway_seconds,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.MissingRequiredClaimError as e:
            raise _unauthorized(f"missing claim {e.claim}") from None
        except jwt.PyJWTError as e:
            reason = next((msg for cls, msg in _FAILURES if isinstance(e, cls)), "invalid token")
            raise _unauthorized(reason) from None
        if not isinstance(claims["sub"], str) or not claims["sub"]:
            raise _unauthorized("missing claim sub")
        embedded = self.embedded_key is not None and header.get("kid") == self.embedded_key.kid
        return Principal(claims["sub"], _roles_from(claims), generation=_generation_of(claims), embedded=embedded)


def bearer_token(headers: Mapping[str, str]) -> str:
    """The bearer token from an Authorization header (RFC 6750 §2.1), or a 401 Problem."""
    value = headers.get("authorization", headers.get("Authorization"))
    if value is None:
        challenge = {"WWW-Authenticate": f'Bearer realm="{REALM}"'}  # RFC 6750 §3.1: no error code here
        raise Problem(401, "Unauthorized", detail="missing bearer token", headers=challenge)
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise _unauthorized("expected Authorization: Bearer <token>", error="invalid_request")
    return token


def require(principal: Principal, *roles: Role) -> None:
    """Raise 403 unless the principal holds at least one of ``roles`` (no roles given: always deny)."""
    if not any(principal.has(r) for r in roles):
        needed = " or ".join(r.value for r in roles) or "(none granted)"
        raise Problem(403, "Forbidden", detail=f"requires role {needed}")
