"""Who owns a charger, and who else may use it: the ``Ownership`` aggregate, one per charger.

A released charger is paired by whoever holds both its codes (the charger label's and the box's): that user
becomes its **owner**. While paired there is exactly one owner. The owner (and co-owners) invite others by
e-mail as **co-owners** or **guests**; an invitation is a single-use, expiring token of which only the sha256
hash is recorded. The owner role changes hands only by a transfer the new owner accepts (an invitation with
the role ``owner``); the previous owner stays a co-owner. Unpairing (a factory reset) removes every member and
every open invitation; the charger can then be paired again.

Wrong codes are recorded (``PairingRefused``, the codes themselves never): ``failures`` keeps the times of the
recent ones, from which ``locked_until`` is derived.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from cloudbay_domain.membership import (
    INVITABLE,
    KEPT_FAILURES,
    MANAGERS,
    AlreadyMember,
    AlreadyPaired,
    Invitation,
    InvitationExpired,
    InvitationNotOpen,
    LastOwner,
    Member,
    MemberRole,
    NotAllowed,
    NotAMember,
    NotPaired,
    OwnershipError,
    WrongInvitee,
    locked_until,
)

__all__ = [
    "AlreadyMember",
    "AlreadyPaired",
    "Invitation",
    "InvitationExpired",
    "InvitationNotOpen",
    "LastOwner",
    "Member",
    "MemberRole",
    "NotAMember",
    "NotAllowed",
    "NotPaired",
    "Ownership",
    "OwnershipError",
    "WrongInvitee",
    "locked_until",
]


class Ownership(Aggregate):
    """The members of one charger (identified by its station id) and the invitations its owners sent."""

    @staticmethod
    def create_id(station_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"cloudbay:ownership:{station_id}")

    class Opened(Aggregate.Created):
        station_id: str

    @event(Opened)
    def __init__(self, station_id: str) -> None:
        self.station_id = station_id
        self.members: dict[str, Member] = {}
        self.invitations: dict[str, Invitation] = {}
        self.failures: list[datetime] = []
        self.pairings = 0  # how many times it was paired (a factory reset ends one pairing)

    @property
    def paired(self) -> bool:
        return bool(self.members)

    @property
    def owner(self) -> str | None:
        return next((who for who, m in self.members.items() if m.role is MemberRole.OWNER), None)

    def role_of(self, subject: str) -> MemberRole | None:
        member = self.members.get(subject)
        return member.role if member else None

    # --- pairing ----------------------------------------------------------------------------

    class PairingRefused(Aggregate.Event):
        """Wrong codes were given for this charger (the codes are not recorded)."""

        by: str
        at: datetime

    @event(PairingRefused)
    def refuse_pairing(self, by: str, at: datetime) -> None:
        self.failures = [*self.failures, at][-KEPT_FAILURES:]

    class Paired(Aggregate.Event):
        owner: str
        at: datetime

    def pair(self, owner: str, at: datetime) -> None:
        if self.paired:
            raise AlreadyPaired(f"charger {self.station_id} already has an owner: ask them for an invitation")
        self._paired(owner=owner, at=at)

    @event(Paired)
    def _paired(self, owner: str, at: datetime) -> None:
        self.members = {owner: Member(MemberRole.OWNER, at)}
        self.failures = []
        self.pairings += 1

    # --- invitations ------------------------------------------------------------------------

    def _check_manager(self, by: str) -> MemberRole:
        role = self.role_of(by)
        if role is None:
            raise NotAMember(f"no charger {self.station_id}")
        if role not in MANAGERS:
            raise NotAllowed(f"a {role.value} of charger {self.station_id} may not manage its members")
        return role

    class MemberInvited(Aggregate.Event):
        token_hash: str
        email: str
        role: str
        expires_at: datetime
        by: str

    def invite(self, by: str, email: str, role: MemberRole, token_hash: str, expires_at: datetime) -> None:
        """Invite ``email`` as ``role``; ``owner`` (a transfer) only by the owner."""
        role = MemberRole(role)
        manager = self._check_manager(by)
        if role is MemberRole.OWNER and manager is not MemberRole.OWNER:
            raise NotAllowed(f"only the owner of charger {self.station_id} may transfer it")
        if email == by:
            raise AlreadyMember("you cannot invite yourself")
        if email in self.members and role is not MemberRole.OWNER:
            raise AlreadyMember(f"{email} is already a member of charger {self.station_id}")
        self._invited(token_hash=token_hash, email=email, role=role.value, expires_at=expires_at, by=by)

    @event(MemberInvited)
    def _invited(self, token_hash: str, email: str, role: str, expires_at: datetime, by: str) -> None:
        invitation = Invitation(token_hash, email, MemberRole(role), expires_at, by)
        self.invitations = {**self.invitations, token_hash: invitation}

    def open_invitation(self, token_hash: str, subject: str, at: datetime) -> Invitation:
        """The invitation ``subject`` may accept now (``KeyError`` for a hash never recorded)."""
        invitation = self.invitations[token_hash]
        if invitation.state != "open":
            raise InvitationNotOpen(f"this invitation was {invitation.state}")
        if at >= invitation.expires_at:
            raise InvitationExpired(f"this invitation expired at {invitation.expires_at.isoformat()}")
        if subject != invitation.email:
            raise WrongInvitee("this invitation was sent to another e-mail address: sign in with that one")
        return invitation

    class MemberJoined(Aggregate.Event):
        member: str
        role: str
        token_hash: str
        at: datetime

    class OwnershipTransferred(Aggregate.Event):
        previous: str
        owner: str
        token_hash: str
        at: datetime

    def accept(self, token_hash: str, subject: str, at: datetime) -> MemberRole:
        """Accept an open invitation: join as its role, or (role ``owner``) become the owner."""
        invitation = self.open_invitation(token_hash, subject, at)
        if invitation.role is MemberRole.OWNER:
            previous = self.owner
            if previous is None or previous != invitation.invited_by:
                raise InvitationNotOpen("this transfer was offered by someone who no longer owns the charger")
            self._transferred(previous=previous, owner=subject, token_hash=token_hash, at=at)
        elif subject in self.members:
            raise AlreadyMember(f"you are already a member of charger {self.station_id}")
        else:
            self._joined(member=subject, role=invitation.role.value, token_hash=token_hash, at=at)
        return invitation.role

    def _used(self, token_hash: str) -> None:
        self.invitations = {**self.invitations, token_hash: replace(self.invitations[token_hash], state="used")}

    @event(MemberJoined)
    def _joined(self, member: str, role: str, token_hash: str, at: datetime) -> None:
        self.members = {**self.members, member: Member(MemberRole(role), at)}
        self._used(token_hash)

    @event(OwnershipTransferred)
    def _transferred(self, previous: str, owner: str, token_hash: str, at: datetime) -> None:
        self.members = {**self.members, previous: Member(MemberRole.CO_OWNER, at), owner: Member(MemberRole.OWNER, at)}
        self._used(token_hash)

    class InvitationRevoked(Aggregate.Event):
        token_hash: str
        by: str

    def revoke_invitation(self, token_hash: str, by: str, operator: bool = False) -> None:
        if not operator:
            self._check_manager(by)
        if token_hash not in self.invitations or self.invitations[token_hash].state != "open":
            raise InvitationNotOpen("no open invitation with that token")
        self._revoked(token_hash=token_hash, by=by)

    @event(InvitationRevoked)
    def _revoked(self, token_hash: str, by: str) -> None:
        self.invitations = {**self.invitations, token_hash: replace(self.invitations[token_hash], state="revoked")}

    # --- members ------------------------------------------------------------------------------

    def _check_other_member(self, by: str, member: str, operator: bool) -> None:
        if not operator:
            self._check_manager(by)
        role = self.role_of(member)
        if role is None:
            raise NotAMember(f"{member} is not a member of charger {self.station_id}")
        if role is MemberRole.OWNER:
            raise LastOwner(f"{member} owns charger {self.station_id}: ownership moves only by a transfer")

    class RoleChanged(Aggregate.Event):
        member: str
        role_from: str
        role_to: str
        by: str

    def change_role(self, by: str, member: str, role: MemberRole, operator: bool = False) -> None:
        role = MemberRole(role)
        self._check_other_member(by, member, operator)
        if role not in INVITABLE:
            raise LastOwner(f"charger {self.station_id} has one owner: ownership moves only by a transfer")
        before = self.members[member].role
        if before is not role:
            self._role_changed(member=member, role_from=before.value, role_to=role.value, by=by)

    @event(RoleChanged)
    def _role_changed(self, member: str, role_from: str, role_to: str, by: str) -> None:
        self.members = {**self.members, member: Member(MemberRole(role_to), self.members[member].since)}

    class MemberRemoved(Aggregate.Event):
        """``member`` left (``by`` is the member) or was removed."""

        member: str
        by: str

    def remove(self, by: str, member: str, operator: bool = False) -> None:
        """Remove a member; anyone but the owner may remove themselves (leave)."""
        if by == member and not operator:
            if self.role_of(by) is None:
                raise NotAMember(f"no charger {self.station_id}")
            if self.role_of(by) is MemberRole.OWNER:
                raise LastOwner(f"the owner cannot leave charger {self.station_id}: transfer it first, or unpair it")
        else:
            self._check_other_member(by, member, operator)
        self._removed(member=member, by=by)

    @event(MemberRemoved)
    def _removed(self, member: str, by: str) -> None:
        self.members = {who: m for who, m in self.members.items() if who != member}

    # --- unpairing ----------------------------------------------------------------------------

    class Unpaired(Aggregate.Event):
        """A factory reset: every member and every open invitation is gone; ``members`` were the members."""

        by: str
        members: list[str]
        reason: str

    def unpair(self, by: str, operator: bool = False, reason: str = "") -> None:
        if not self.paired:
            raise NotPaired(f"charger {self.station_id} is not paired")
        if not operator:
            role = self.role_of(by)
            if role is None:
                raise NotAMember(f"no charger {self.station_id}")
            if role is not MemberRole.OWNER:
                raise NotAllowed(f"only the owner of charger {self.station_id} (or an operator) may unpair it")
        self._unpaired(by=by, members=sorted(self.members), reason=reason)

    @event(Unpaired)
    def _unpaired(self, by: str, members: list[str], reason: str) -> None:
        self.members = {}
        self.invitations = {
            h: replace(i, state="revoked") if i.state == "open" else i for h, i in self.invitations.items()
        }
