"""Chargers' HTTP Basic-auth passwords (security profiles 1 and 2): generated, checked, hashed with argon2id.

OCPP 2.0.1 (``SecurityCtrlr.BasicAuthPassword``) allows 16 to 40 characters. A password the platform generates
has 32 letters and digits (190 bits); one an operator sets may be weaker, so the hash is slower than the
manufacturing codes' (argon2id, 19 MiB, 2 passes: OWASP's minimum) and the endpoint limits failed logins. The
hash runs in a thread, never on the event loop. Only the hash is recorded; the password is shown once.
"""

from __future__ import annotations

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
