"""Users of the platform: operators and drivers, with their client secrets (hashed by the caller).

A removed user is not found by ``get`` (it is used for nothing: no token, no grant); ``find`` sees every
state, for the adapters that must tell a removed user from an unknown one (token revocation). Registering a
removed user's e-mail again reinstates it at a new generation. Lists are queries: ``projections.users``.
"""

from __future__ import annotations

from collections.abc import Callable

from cloudbay_domain.user import User, UserError, UserRemoved, UserRole, normalise_email
from services.errors import ServiceError
from services.store import EventLog


class UserAlreadyExists(ServiceError):
    pass


class UnknownUser(ServiceError):
    pass


class UserWasRemoved(ServiceError):
    """Changing a removed user (removing again, rotating the secret): nothing was written."""


class Users:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def register(self, email: str, role: UserRole, secret_hash: str) -> User:
        """A new user; or, for the e-mail of a removed one, that user registered again (a new generation)."""
        user = User.register(email, role, secret_hash)
        exists = UserAlreadyExists(f"user {user.email} already exists")
        try:
            return self.log.create(user, exists)
        except UserAlreadyExists:
            pass

        def again(found: User) -> User:
            if not found.removed:
                raise exists
            found.reregister(role, secret_hash)
            return found

        return self.log.change(user.id, again, UnknownUser(f"no user {user.email}"))

    def find(self, email: str) -> User | None:
        """The user in any state (removed included), or None for an unknown or malformed e-mail."""
        try:
            email = normalise_email(email)
        except UserError:
            return None
        user: User | None = self.log.load_or_none(User.create_id(email))
        return user

    def get(self, email: str) -> User:
        """The user, if registered and not removed."""
        user = self.find(email)
        if user is None or user.removed:
            raise UnknownUser(f"no user {email}")
        return user

    def rotate_secret(self, email: str, secret_hash: str) -> User:
        """Replace the client secret: the tokens issued before are revoked (the user's generation moves on)."""
        return self._change(email, lambda u: u.rotate_secret(secret_hash))

    def remove(self, email: str) -> User:
        """Remove the user: their secret no longer grants a token and their tokens are revoked."""
        return self._change(email, lambda u: u.remove())

    def _change(self, email: str, command: Callable[[User], None]) -> User:
        try:
            email = normalise_email(email)
        except UserError:
            raise UnknownUser(f"no user {email}") from None

        def run(user: User) -> User:
            try:
                command(user)
            except UserRemoved as e:
                raise UserWasRemoved(str(e)) from None
            return user

        return self.log.change(User.create_id(email), run, UnknownUser(f"no user {email}"))
