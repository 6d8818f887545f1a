"""Id tokens (RFID cards and guest tokens) and the local authorization list pushed to chargers."""

from __future__ import annotations

import enum
import hashlib
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.text import check_text

MAX_ID_TOKEN_LENGTH = 36


class IdTokenError(Exception):
    pass


class InvalidIdToken(IdTokenError):
    pass


class IdTokenNotActive(IdTokenError):
    pass


class TokenKind(str, enum.Enum):
    RFID = "rfid"
    GUEST = "guest"


class TokenStatus(str, enum.Enum):
    ACTIVE = "active"
    BLOCKED = "blocked"
    REMOVED = "removed"


APP_TOKEN_PREFIX, _APP_TOKEN_DIGITS = "APP", 17
GUEST_TOKEN_PREFIX = "GST"  # a guest's id token on one charger: GST and 17 random hexadecimal digits


def app_id_token(user: str) -> str:
    """The id token a start from the app carries when the user names no card (type Central, 20 characters)."""
    return APP_TOKEN_PREFIX + hashlib.sha256(user.encode()).hexdigest()[:_APP_TOKEN_DIGITS].upper()


def is_app_token(value: str) -> bool:
    """Whether ``value`` has the form of the platform's own app tokens: never registrable as a card, so that
    nobody can claim (or predict and claim) the token another user's app starts carry."""
    return _platform_form(value, APP_TOKEN_PREFIX)


def is_guest_token(value: str) -> bool:
    """Whether ``value`` has the form of a guest's id token (``GuestAccess``): the platform issues those too."""
    return _platform_form(value, GUEST_TOKEN_PREFIX)


def _platform_form(value: str, prefix: str) -> bool:
    digits = value[len(prefix) :]
    return (
        value.startswith(prefix) and len(digits) == _APP_TOKEN_DIGITS and all(c in "0123456789ABCDEF" for c in digits)
    )


def normalise_token(value: str) -> str:
    """RFID UIDs arrive in either case; the same tag must be one card (stored upper-case)."""
    value = value.strip().upper()
    if not value or len(value) > MAX_ID_TOKEN_LENGTH or not value.isprintable():
        raise InvalidIdToken(f"an id token is 1-{MAX_ID_TOKEN_LENGTH} printable characters")
    return value


class IdToken(Aggregate):
    """An RFID card or guest token, registered once to a user and authorised on the chargers they may use.

    Identified by its value alone: chargers report one tag as type ``Local`` in Authorize and ``ISO14443``
    in TransactionEvent, so the type is a label, not part of the identity.
    """

    @staticmethod
    def create_id(value: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:id-token:{value}")

    class Registered(Aggregate.Created):
        value: str
        token_type: str
        user: str
        kind: str
        label: str

    @event(Registered)
    def __init__(self, value: str, token_type: str, user: str, kind: str, label: str) -> None:
        self.value = value
        self.token_type = token_type
        self.user = user
        self.kind = TokenKind(kind)
        self.label = label
        self.status = TokenStatus.ACTIVE

    @classmethod
    def register(cls, value: str, token_type: str, user: str, kind: TokenKind, label: str = "") -> IdToken:
        return cls(
            value=normalise_token(value),
            token_type=token_type,
            user=user,
            kind=TokenKind(kind).value,
            label=check_text(label, "label"),
        )

    class Reissued(Aggregate.Event):
        token_type: str
        user: str
        kind: str
        label: str

    def reissue(self, token_type: str, user: str, kind: TokenKind, label: str = "") -> None:
        """Register again a token that was removed (a card handed to someone else)."""
        if self.status is not TokenStatus.REMOVED:
            raise IdTokenError(f"id token {self.value} is already registered")
        self._reissued(token_type=token_type, user=user, kind=TokenKind(kind).value, label=check_text(label, "label"))

    @event(Reissued)
    def _reissued(self, token_type: str, user: str, kind: str, label: str) -> None:
        self.token_type = token_type
        self.user = user
        self.kind = TokenKind(kind)
        self.label = label
        self.status = TokenStatus.ACTIVE

    class StatusChanged(Aggregate.Event):
        status: str

    def block(self) -> None:
        self._check_not_removed()
        if self.status is not TokenStatus.BLOCKED:
            self._status_changed(status=TokenStatus.BLOCKED.value)

    def unblock(self) -> None:
        self._check_not_removed()
        if self.status is not TokenStatus.ACTIVE:
            self._status_changed(status=TokenStatus.ACTIVE.value)

    def remove(self) -> None:
        self._check_not_removed()
        self._status_changed(status=TokenStatus.REMOVED.value)

    def _check_not_removed(self) -> None:
        if self.status is TokenStatus.REMOVED:
            raise IdTokenNotActive(f"id token {self.value} was removed")

    @event(StatusChanged)
    def _status_changed(self, status: str) -> None:
        self.status = TokenStatus(status)

    @property
    def ocpp_status(self) -> str:
        """The AuthorizationStatusEnumType a charger is told for this token."""
        return {TokenStatus.ACTIVE: "Accepted", TokenStatus.BLOCKED: "Blocked", TokenStatus.REMOVED: "Invalid"}[
            self.status
        ]


class LocalAuthList(Aggregate):
    """The platform's local authorization list (OCPP D01): every token change bumps its version.

    Saved in the same transaction as the token it reflects, so list and tokens never disagree.
    """

    ID = uuid5(NAMESPACE_URL, "cloudbay:local-auth-list")

    @staticmethod
    def create_id() -> UUID:
        return LocalAuthList.ID

    class Started(Aggregate.Created):
        pass

    @event(Started)
    def __init__(self) -> None:
        self.list_version = 0
        self.entries: dict[str, dict[str, str]] = {}  # value -> {"type", "status", "user" (when recorded)}

    class EntryChanged(Aggregate.Event):
        list_version: int
        value: str
        token_type: str
        status: str | None  # None: removed from the list
        user: str | None = None  # whose token (absent from older events)

    def change(self, token: IdToken) -> None:
        status = None if token.status is TokenStatus.REMOVED else token.ocpp_status
        self._entry_changed(
            list_version=self.list_version + 1,
            value=token.value,
            token_type=token.token_type,
            status=status,
            user=token.user,
        )

    @event(EntryChanged)
    def _entry_changed(
        self, list_version: int, value: str, token_type: str, status: str | None, user: str | None = None
    ) -> None:  # ``user``: None in events recorded before cards went only to their owners' chargers
        self.list_version = list_version
        if status is None:
            self.entries.pop(value, None)
        else:
            self.entries[value] = {"type": token_type, "status": status, **({"user": user} if user else {})}
