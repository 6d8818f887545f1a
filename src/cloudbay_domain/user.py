"""Platform users: operators who manage the fleet, and users of the app."""

from __future__ import annotations

import enum
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event


class UserError(Exception):
    pass


class InvalidEmail(UserError):
    pass


class UserRole(str, enum.Enum):
    OPERATOR = "operator"
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
    """Someone who signs in: identified by e-mail, holding one role and a hashed client secret."""

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

    @classmethod
    def register(cls, email: str, role: UserRole, secret_hash: str) -> User:
        return cls(email=normalise_email(email), role=UserRole(role).value, secret_hash=secret_hash)

    class SecretRotated(Aggregate.Event):
        secret_hash: str

    @event(SecretRotated)
    def rotate_secret(self, secret_hash: str) -> None:
        self.secret_hash = secret_hash
