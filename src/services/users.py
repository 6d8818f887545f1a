"""Users of the platform: operators and drivers, with their client secrets (hashed by the caller)."""

from __future__ import annotations

from cloudbay_domain.user import User, UserError, UserRole, normalise_email
from services.errors import ServiceError
from services.store import EventLog


class UserAlreadyExists(ServiceError):
    pass


class UnknownUser(ServiceError):
    pass


class Users:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def register(self, email: str, role: UserRole, secret_hash: str) -> User:
        user = User.register(email, role, secret_hash)
        return self.log.create(user, UserAlreadyExists(f"user {user.email} already exists"))

    def get(self, email: str) -> User:
        try:
            email = normalise_email(email)
        except UserError:
            raise UnknownUser(f"no user {email}") from None
        user: User = self.log.load(User.create_id(email), UnknownUser(f"no user {email}"))
        return user

    def rotate_secret(self, email: str, secret_hash: str) -> None:
        email = normalise_email(email)
        self.log.change(User.create_id(email), lambda u: u.rotate_secret(secret_hash), UnknownUser(f"no user {email}"))
