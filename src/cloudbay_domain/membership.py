"""The vocabulary of charger ownership: member roles, members, invitations, the refusals, the lock rule."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

KEPT_FAILURES = 50  # the recent refused attempts an aggregate remembers (enough for any sensible threshold)


class MemberRole(str, enum.Enum):
    OWNER = "owner"
    CO_OWNER = "co-owner"
    GUEST = "guest"


MANAGERS = frozenset({MemberRole.OWNER, MemberRole.CO_OWNER})  # who may invite, change and remove members
INVITABLE = frozenset({MemberRole.CO_OWNER, MemberRole.GUEST})  # the roles an invitation (not a transfer) gives


class OwnershipError(Exception):
    """A command the ownership rules do not allow; nothing was recorded."""


class NotPaired(OwnershipError):
    pass


class AlreadyPaired(OwnershipError):
    pass


class NotAMember(OwnershipError):
    """The caller has no role on the charger: refused like an unknown charger (its existence is not revealed)."""


class NotAllowed(OwnershipError):
    """A member whose role does not allow the command."""


class AlreadyMember(OwnershipError):
    pass


class LastOwner(OwnershipError):
    """The owner cannot leave, be removed or change role: ownership moves only by a transfer."""


class InvitationNotOpen(OwnershipError):
    """An invitation already used or revoked (or voided by unpairing)."""


class InvitationExpired(OwnershipError):
    pass


class WrongInvitee(OwnershipError):
    """The invitation was sent to another e-mail address than the caller's."""


@dataclass(frozen=True)
class Member:
    role: MemberRole
    since: datetime


@dataclass(frozen=True)
class Invitation:
    token_hash: str
    email: str
    role: MemberRole
    expires_at: datetime
    invited_by: str
    state: str = "open"  # open, used, revoked


def locked_until(failures: list[datetime], max_failures: int, lock: timedelta) -> datetime | None:
    """When a lock made by ``failures`` (oldest first) ends: ``max_failures`` of them within ``lock`` of the
    last one lock further attempts until ``lock`` after it. None: no lock (it may have ended already)."""
    if max_failures < 1 or len(failures) < max_failures:
        return None
    last = failures[-1]
    recent = [t for t in failures if t > last - lock]
    return last + lock if len(recent) >= max_failures else None
