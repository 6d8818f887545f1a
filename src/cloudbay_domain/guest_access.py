"""Guests of one charger and the id tokens the platform gave them there: the ``GuestAccess`` aggregate.

A guest of a charger (a member with the role ``guest``) asks for a short-lived client certificate for that
charger; the first one gives the guest an id token of their own there (``GST`` and 17 random hexadecimal
digits), printed in the certificate's subject and put in that charger's local list only. Every certificate
issued to the guest there is recorded; revoking the pass (the guest left or was removed, the charger was
unpaired) revokes them all and takes the token off the charger's list. A guest invited again gets a new token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.id_token import GUEST_TOKEN_PREFIX

GUEST_TOKEN_TYPE = "Central"  # the IdTokenEnumType a guest's token is listed with: the platform made it


def new_guest_token() -> str:
    return GUEST_TOKEN_PREFIX + secrets.token_hex(9).upper()[:17]


class GuestAccessError(Exception):
    pass


@dataclass(frozen=True)
class GuestPass:
    """One guest's pass on the charger: their id token there, the serials issued to them, whether it stands."""

    token: str
    serials: tuple[str, ...] = field(default=())
    revoked: bool = False


class GuestAccess(Aggregate):
    """The guest passes of one charger (identified by its station id)."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:guest-access:{station_id}")

    class Opened(Aggregate.Created):
        station_id: str

    @event(Opened)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.passes: dict[str, GuestPass] = {}  # guest subject -> the pass

    def pass_of(self, guest: str) -> GuestPass | None:
        """The guest's standing pass, if any."""
        held = self.passes.get(guest)
        return held if held is not None and not held.revoked else None

    def token_for(self, guest: str) -> str:
        """The guest's id token on this charger: the standing pass's, or a new one."""
        held = self.pass_of(guest)
        return held.token if held is not None else new_guest_token()

    def admits(self, token: str) -> bool:
        return any(p.token == token and not p.revoked for p in self.passes.values())

    def standing(self) -> dict[str, GuestPass]:
        return {guest: p for guest, p in self.passes.items() if not p.revoked}

    class CertificateIssued(Aggregate.Event):
        guest: str
        token: str
        serial: str

    def issue(self, guest: str, token: str, serial: str) -> None:
        held = self.pass_of(guest)
        if held is not None and held.token != token:
            raise GuestAccessError(f"{guest} holds another id token on charger {self.station_id}")
        self._issued(guest=guest, token=token, serial=serial)

    @event(CertificateIssued)
    def _issued(self, guest: str, token: str, serial: str) -> None:
        held = self.pass_of(guest) or GuestPass(token)
        self.passes = {**self.passes, guest: replace(held, serials=(*held.serials, serial))}

    class PassRevoked(Aggregate.Event):
        guest: str
        token: str
        serials: list[str]
        reason: str

    def revoke(self, guest: str, reason: str) -> GuestPass | None:
        """Revoke the guest's standing pass (None: there was none; nothing is recorded)."""
        held = self.pass_of(guest)
        if held is None:
            return None
        self._revoked(guest=guest, token=held.token, serials=list(held.serials), reason=reason)
        return held

    @event(PassRevoked)
    def _revoked(self, guest: str, token: str, serials: list[str], reason: str) -> None:
        self.passes = {**self.passes, guest: replace(self.passes[guest], revoked=True)}
