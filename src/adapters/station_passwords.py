"""Chargers' HTTP Basic-auth passwords (security profiles 1 and 2): generated, checked, hashed with argon2id.

OCPP 2.0.1 (``SecurityCtrlr.BasicAuthPassword``) allows 16 to 40 characters. A password the platform generates
has 32 letters and digits (190 bits); one an operator sets may be weaker, so the hash is slower than the
manufacturing codes' (argon2id, 19 MiB, 2 passes: OWASP's minimum) and the endpoint limits failed logins. The
hash runs in a thread, never on the event loop. Only the hash is recorded; the password is shown once.

One argon2id check costs tens of milliseconds of CPU, so a fleet reconnecting at once (after a network
outage) would queue for minutes. ``PasswordChecker`` remembers, per station id, an HMAC (with a key made at
start, never stored) of the hash and the password last proved right: the same charger reconnecting with the
same password is checked in microseconds. A wrong password always pays the full hash (and is rate limited);
a new password changes the hash, so what was remembered no longer matches.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import string

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH, MAX_LENGTH, GENERATED_LENGTH = 16, 40, 32
ALPHABET = string.ascii_letters + string.digits
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)


class InvalidPassword(ValueError):
    pass


def check_password(password: str) -> str:
    """``password`` if OCPP allows it: 16-40 printable ASCII characters (no spaces, no control characters)."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        raise InvalidPassword(f"a charger password has {MIN_LENGTH} to {MAX_LENGTH} characters")
    if not all("!" <= c <= "~" for c in password):
        raise InvalidPassword("a charger password is printable ASCII without spaces")
    return password


def generate_password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(GENERATED_LENGTH))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class PasswordChecker:
    """``check`` a station's Basic-auth password against its hash, off the event loop, remembering success."""

    def __init__(self) -> None:
        self._key = secrets.token_bytes(32)
        self._proved: dict[str, bytes] = {}  # one entry per whitelisted station id at most

    def _digest(self, password_hash: str, password: str) -> bytes:
        return hmac.new(self._key, f"{password_hash}\0{password}".encode(), hashlib.sha256).digest()

    async def check(self, station_id: str, password_hash: str, password: str) -> bool:
        digest = self._digest(password_hash, password)
        if hmac.compare_digest(self._proved.get(station_id, b""), digest):
            return True
        if not await asyncio.to_thread(verify_password, password_hash, password):
            return False
        self._proved[station_id] = digest
        return True
