"""Charger ownership: pairing, invitations, members, transfer and unpairing (the ``Ownership`` aggregate).

Every command loads the charger's ``Ownership``, runs one domain command and saves; a refusal (an
``OwnershipError`` or a ``ServiceError`` of this module) is recorded as a platform security event of the
charger before it is raised, when the charger exists. Invitation tokens are made here and handed back once
(for the mail); the log keeps their sha256 hash only.

**Listeners**: ``add_listener(fn)`` registers ``fn(station_id)``, called after each committed change of who
may use a charger (pairing, a member joined, changed role or was removed, a transfer, unpairing), in the thread
that made the change. A listener that fails is logged and does not undo the change.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from cloudbay_domain.charger import Charger
from cloudbay_domain.membership import MemberRole, NotAMember, OwnershipError
from cloudbay_domain.ownership import Ownership
from cloudbay_domain.user import normalise_email
from services.batches import CodeHasher
from services.errors import ServiceError
from services.pairing import Pairing, PairingLimits, audit
from services.store import EventLog

log = logging.getLogger("cloudbay.ownership")
R = TypeVar("R")
DEFAULT_INVITATION_DAYS = 7
MAX_INVITATION_DAYS = 30
Listener = Callable[[str], None]


class UnknownInvitation(ServiceError):
    """No invitation with that token (never made, or not for any charger here)."""


class InvalidExpiry(ServiceError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(station_id: str) -> str:
    """A single-use invitation token: the station id it is for (base64url) and 256 random bits."""
    station = base64.urlsafe_b64encode(station_id.encode("utf-8")).rstrip(b"=").decode("ascii")
    return f"{station}.{secrets.token_urlsafe(32)}"


def station_of(token: str) -> str:
    station, dot, secret = token.partition(".")
    if not dot or not secret:
        raise UnknownInvitation("no such invitation")
    try:
        return base64.urlsafe_b64decode(station + "=" * (-len(station) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise UnknownInvitation("no such invitation") from None


def check_expiry(expires_at: datetime | None, now: datetime) -> datetime:
    if expires_at is None:
        return now + timedelta(days=DEFAULT_INVITATION_DAYS)
    if expires_at.tzinfo is None:
        raise InvalidExpiry("expires_at needs a time zone (e.g. 2026-12-24T18:00:00Z)")
    if not now < expires_at <= now + timedelta(days=MAX_INVITATION_DAYS):
        raise InvalidExpiry(f"expires_at must be in the future and at most {MAX_INVITATION_DAYS} days ahead")
    return expires_at.astimezone(UTC)


class Ownerships:
    def __init__(
        self,
        log: EventLog,
        hasher: CodeHasher,
        limits: PairingLimits | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.log = log
        self.clock = clock or (lambda: datetime.now(UTC))
        self.pairing = Pairing(log, hasher, limits or PairingLimits())
        self.listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(station_id)`` after each committed change of a charger's members."""
        self.listeners.append(listener)

    def _changed(self, station_id: str) -> None:
        for listener in list(self.listeners):
            try:
                listener(station_id)
            except Exception:
                log.exception("an ownership listener failed for charger %s", station_id)

    def get(self, station_id: str) -> Ownership | None:
        ownership: Ownership | None = self.log.load_or_none(Ownership.create_id(station_id))
        return ownership

    def visible(self, station_id: str, subject: str, operator: bool = False) -> Ownership:
        """The charger's ownership as ``subject`` may see it: a non-member is told there is no such charger."""
        ownership = self.get(station_id)
        if operator and Charger.create_id(station_id) in self.log.repository:
            return ownership or Ownership(station_id)
        if ownership is None or ownership.role_of(subject) is None:
            raise NotAMember(f"no charger {station_id}")
        return ownership

    # --- commands -------------------------------------------------------------------------------

    def pair(self, subject: str, charger_code: str, box_code: str) -> Ownership:
        ownership = self.pairing.pair(subject, charger_code, box_code, self.clock())
        self._changed(ownership.station_id)
        return ownership

    def invite(
        self, station_id: str, by: str, email: str, role: MemberRole, expires_at: datetime | None = None
    ) -> tuple[Ownership, str]:
        """Invite ``email`` as ``role`` (``owner``: a transfer); the token is returned once, for the mail."""
        now = self.clock()
        email, expiry, token = normalise_email(email), check_expiry(expires_at, now), new_token(station_id)
        what = f"{by} invites {email} as {MemberRole(role).value}"
        ownership = self._change(
            station_id, what, lambda o: o.invite(by, email, role, token_hash(token), expiry), notify=False
        )
        return ownership, token

    def transfer(
        self, station_id: str, by: str, email: str, expires_at: datetime | None = None
    ) -> tuple[Ownership, str]:
        """Offer the charger to ``email``: they become its owner when they accept (this one a co-owner)."""
        return self.invite(station_id, by, email, MemberRole.OWNER, expires_at)

    def accept(self, token: str, subject: str) -> tuple[Ownership, MemberRole]:
        station_id, hashed, now = station_of(token), token_hash(token), self.clock()
        ownership = self.get(station_id)
        if ownership is None or hashed not in ownership.invitations:
            if ownership is not None:
                self._record(station_id, f"{subject} accepts an unknown invitation: refused")
            raise UnknownInvitation("no such invitation")
        roles: list[MemberRole] = []
        what = f"{subject} accepts an invitation ({hashed[:12]})"
        ownership = self._change(station_id, what, lambda o: roles.append(o.accept(hashed, subject, now)))
        return ownership, roles[-1]

    def revoke_invitation(self, station_id: str, by: str, hashed: str, operator: bool = False) -> Ownership:
        what = f"{by} revokes an invitation ({hashed[:12]})"
        return self._change(station_id, what, lambda o: o.revoke_invitation(hashed, by, operator), notify=False)

    def change_role(self, station_id: str, by: str, member: str, role: MemberRole, operator: bool = False) -> Ownership:
        what = f"{by} makes {member} {MemberRole(role).value}"
        return self._change(station_id, what, lambda o: o.change_role(by, member, role, operator))

    def remove(self, station_id: str, by: str, member: str, operator: bool = False) -> Ownership:
        return self._change(station_id, f"{by} removes {member}", lambda o: o.remove(by, member, operator))

    def unpair(self, station_id: str, by: str, operator: bool = False, reason: str = "") -> Ownership:
        """A factory reset: members and open invitations go; the history stays (``projections.members``)."""
        return self._change(station_id, f"{by} unpairs", lambda o: o.unpair(by, operator, reason))

    # --- the one way to change ------------------------------------------------------------------

    def _record(self, station_id: str, info: str) -> None:
        if Charger.create_id(station_id) in self.log.repository:
            self.log.committer.save(audit(station_id, "MembershipRefused", self.clock(), info))

    def _change(
        self, station_id: str, what: str, command: Callable[[Ownership], Any], notify: bool = True
    ) -> Ownership:
        def attempt() -> tuple[Ownership, list[Any]]:
            ownership = self.get(station_id)
            if ownership is None:
                raise NotAMember(f"no charger {station_id}")
            command(ownership)
            return ownership, [ownership, audit(station_id, "MembershipChanged", self.clock(), what)]

        try:
            ownership = self.log.retrying(attempt, f"the members of charger {station_id}")
        except (OwnershipError, ServiceError) as e:
            self._record(station_id, f"{what}: refused ({type(e).__name__})")
            raise
        if notify:
            self._changed(station_id)
        return ownership
