"""Platform users: operators who manage the fleet, and users of the app."""

from __future__ import annotations

import enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class UserError(Exception):
    pass


class InvalidEmail(UserError):
    pass


class UserRemoved(UserError):
    """A removed user is used for nothing (no secret rotation, no second removal) until registered again."""


class UserRole(str, enum.Enum):
    OPERATOR = "operator"
    MANUFACTURER = "manufacturer"  # the production line: batches, labels, release, scrap; no users' data
    USER = "user"


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if (
        not local
        or "." not in domain
        or "@" in domain
        or len(email) > 254
        or any(c.isspace() or not c.isprintable() for c in email)
    ):
        raise InvalidEmail(f"not an e-mail address: {email!r}")
    return email


class User(Aggregate):
    """Someone who signs in: identified by e-mail, holding one role and a hashed client secret.

    ``generation`` counts the user's credentials: it starts at 1 and every event that must revoke the tokens
    issued before it (a rotated secret, a removal, a registration again after one) moves it on. Tokens of the
    embedded issuer carry it; a token whose generation is not the user's current one is refused.

    A removed user stays in the log (same id: the e-mail's ``uuid5``). Registering the e-mail again reinstates
    that aggregate (``Reregistered``, with a new role and secret) at a new generation, so nothing the old
    registration held a token for comes back.
    """

    @staticmethod
    def create_id(email: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:user:{email}")

    class Registered(Aggregate.Created):
        email: str
        role: str
        secret_hash: str

    @event(Registered)
    def __init__(self, email: str, role: str, secret_hash: str) -> None:
        self.email = email
        self.role = UserRole(role)
        self.secret_hash = secret_hash
        self.removed = False
        self.generation = 1

    @classmethod
    def register(cls, email: str, role: UserRole, secret_hash: str) -> User:
        return cls(email=normalise_email(email), role=UserRole(role).value, secret_hash=secret_hash)

    class SecretRotated(Aggregate.Event):
        secret_hash: str

    def rotate_secret(self, secret_hash: str) -> None:
        self._check_active()
        self._rotate_secret(secret_hash)

    @event(SecretRotated)
    def _rotate_secret(self, secret_hash: str) -> None:
        self.secret_hash = secret_hash
        self.generation += 1

    class Removed(Aggregate.Event):
        pass

    def remove(self) -> None:
        self._check_active()
        self._remove()

    @event(Removed)
    def _remove(self) -> None:
        self.removed = True
        self.generation += 1

    class Reregistered(Aggregate.Event):
        role: str
        secret_hash: str

    def reregister(self, role: UserRole, secret_hash: str) -> None:
        """Register a removed user's e-mail again: a new role and secret, a new generation."""
        if not self.removed:
            raise UserError(f"user {self.email} is registered")
        self._reregister(UserRole(role).value, secret_hash)

    @event(Reregistered)
    def _reregister(self, role: str, secret_hash: str) -> None:
        self.role = UserRole(role)
        self.secret_hash = secret_hash
        self.removed = False
        self.generation += 1

    def _check_active(self) -> None:
        if self.removed:
            raise UserRemoved(f"user {self.email} was removed")
