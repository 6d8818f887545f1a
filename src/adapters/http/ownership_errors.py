"""Ownership refusals as HTTP problems (consulted by ``adapters.http.errors.problem_for``)."""

from __future__ import annotations

from adapters.http.problems import Problem
from adapters.mail import MailError
from cloudbay_domain.membership import (
    AlreadyMember,
    AlreadyPaired,
    InvitationExpired,
    InvitationNotOpen,
    LastOwner,
    NotAllowed,
    NotAMember,
    NotPaired,
    OwnershipError,
    WrongInvitee,
)
from services.ownership import InvalidExpiry, UnknownInvitation
from services.pairing import NotPairable, PairingLocked, WrongPairingCodes

# domain refusals that are no ServiceError, answered by the app's refusal handler (not as server errors)
REFUSALS = (OwnershipError, MailError)
_STATUS: tuple[tuple[type[Exception], int, str, str], ...] = (
    (NotAMember, 404, "Not Found", "NotFound"),
    (UnknownInvitation, 404, "Not Found", "UnknownInvitation"),
    (WrongPairingCodes, 403, "Forbidden", "WrongCodes"),
    (WrongInvitee, 403, "Forbidden", "WrongInvitee"),
    (NotAllowed, 403, "Forbidden", "NotAllowed"),
    (AlreadyPaired, 409, "Conflict", "AlreadyPaired"),
    (AlreadyMember, 409, "Conflict", "AlreadyMember"),
    (LastOwner, 409, "Conflict", "LastOwner"),
    (NotPaired, 409, "Conflict", "NotPaired"),
    (InvitationNotOpen, 409, "Conflict", "InvitationUsed"),
    (InvitationExpired, 410, "Gone", "InvitationExpired"),
    (InvalidExpiry, 422, "Unprocessable Content", "InvalidExpiry"),
    (MailError, 502, "Bad Gateway", "MailNotSent"),
)


def ownership_problem(error: Exception) -> Problem | None:
    detail = str(error)
    if isinstance(error, PairingLocked):
        retry = {"Retry-After": str(error.retry_after)}
        return Problem(429, "Too Many Requests", detail, reason="Locked", headers=retry)
    if isinstance(error, NotPairable):
        return Problem(409, "Conflict", detail, reason="NotPairable", state=error.state)
    for kind, status, title, reason in _STATUS:
        if isinstance(error, kind):
            return Problem(status, title, detail, reason=reason)
    return None
