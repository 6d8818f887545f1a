"""Id tokens (RFID cards, guest tokens): registering, blocking, authorizing, and the local list they make."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from cloudbay_domain.charger import Charger
from cloudbay_domain.guest_access import GuestAccess
from cloudbay_domain.id_token import (
    IdToken,
    IdTokenError,
    LocalAuthList,
    TokenKind,
    is_app_token,
    is_guest_token,
    normalise_token,
)
from cloudbay_domain.user import normalise_email
from services.errors import ServiceError, check_version
from services.store import EventLog


class UnknownIdToken(ServiceError):
    pass


class IdTokenAlreadyRegistered(ServiceError):
    pass


class NotYourIdToken(UnknownIdToken):
    """Another user's id token: refused exactly as an unknown one, so that its existence is not revealed."""


class IdTokens:
    def __init__(self, log: EventLog) -> None:
        self.log = log

    def local_auth_list(self) -> LocalAuthList:
        auth_list: LocalAuthList | None = self.log.load_or_none(LocalAuthList.create_id())
        return auth_list if auth_list is not None else LocalAuthList()

    def get(self, value: str) -> IdToken:
        try:
            token_id = IdToken.create_id(normalise_token(value))
        except IdTokenError:
            raise UnknownIdToken(f"no id token {value}") from None
        token: IdToken = self.log.load(token_id, UnknownIdToken(f"no id token {value}"))
        return token

    def register(
        self, value: str, token_type: str, user: str, kind: TokenKind, label: str = "", *, operator: bool = True
    ) -> IdToken:
        """Register a card (or guest token) to ``user``; the local list changes in the same save.

        A value already registered is refused; an operator is told to whom, a user is not even told that it is
        taken by someone else: the refusal is the one their own card registered twice gets.
        """
        value, user = normalise_token(value), normalise_email(user)
        if is_app_token(value) or is_guest_token(value):
            raise IdTokenAlreadyRegistered(f"id token {value} cannot be registered: the platform issues that form")

        def register() -> IdToken:
            token: IdToken | None = self.log.load_or_none(IdToken.create_id(value))
            if token is None:
                return IdToken.register(value, token_type, user, kind, label)
            try:
                token.reissue(token_type, user, kind, label)
            except IdTokenError:
                told = f"is already registered to {token.user}" if operator else "cannot be registered"
                raise IdTokenAlreadyRegistered(f"id token {value} {told}") from None
            return token

        return self._change(value, register)

    def change(
        self, value: str, action: str, *, acting_user: str, operator: bool, expected: Collection[int] | None = None
    ) -> IdToken:
        """Block, unblock or remove a token: its owner or an operator may; with ``expected``, only at those versions."""

        def change() -> IdToken:
            token = self.get(value)
            if not operator and token.user != acting_user:
                raise NotYourIdToken(f"no id token {value}")
            check_version(f"id token {token.value}", token.version, expected)
            {"block": token.block, "unblock": token.unblock, "remove": token.remove}[action]()
            return token

        return self._change(value, change)

    def _change(self, value: str, command: Callable[[], IdToken]) -> IdToken:
        """Run a token command and save the token with the local list it changes."""

        def attempt() -> tuple[IdToken, list[Any]]:
            token = command()
            if not token.pending_events:
                return token, []  # nothing changed (blocking a blocked card)
            auth_list = self.local_auth_list()
            auth_list.change(token)
            return token, [token, auth_list]

        return self.log.retrying(attempt, f"id token {value}")

    def authorize(self, value: str) -> tuple[str, IdToken | None]:
        """The AuthorizationStatus for an id token presented at a charger (C01)."""
        try:
            token = self.get(value)
        except UnknownIdToken:
            return "Unknown", None
        return token.ocpp_status, token

    def authorize_at(self, charger: Callable[[], Charger], value: str) -> tuple[str, IdToken | None]:
        """Authorize at one charger: the registered id tokens, and those the platform sent it itself to start a
        transaction (the app's ``Central`` token of a remote start), which a charger may present back (C01)."""
        status, token = self.authorize(value)
        if token is None and issued_for_remote_start(charger(), normalise_token(value)):
            return "Accepted", None
        guest = token is not None and status == "Accepted" and is_guest_token(token.value)
        if guest and token is not None and not self._admitted_at(charger(), token.value):
            return "NotAtThisLocation", token  # a guest's token is good on the one charger it was issued for
        return status, token

    def _admitted_at(self, charger: Charger, value: str) -> bool:
        access: GuestAccess | None = self.log.load_or_none(GuestAccess.create_id(charger.station_id))
        return access is not None and access.admits(value)


def issued_for_remote_start(charger: Charger, value: str) -> bool:
    """Whether the platform sent ``value`` in a RequestStartTransaction to ``charger`` that was not refused."""
    starts = charger.remote_starts.values()
    return any(normalise_token(r["id_token"]) == value and r["answer"] in (None, "Accepted") for r in starts)
