"""Who may do what with chargers, transactions and id tokens: every rule in one place.

Ownership of chargers comes later; until then any signed-in user may use any charger, and a user acts
only on what is theirs (their transactions, their id tokens). Operators may do everything.
"""

from __future__ import annotations

from adapters.auth import Principal, Role
from adapters.http.problems import Problem
from projections.transactions import Visibility

# who may import batches, get their labels and device lists, release and scrap devices, read the fleet: the
# production line or an operator. A manufacturer sees no users' data (transactions, cards, users).
MANUFACTURING = (Role.OPERATOR, Role.MANUFACTURER)


def is_operator(principal: Principal) -> bool:
    return principal.has(Role.OPERATOR)


def may_use_charger(principal: Principal, station_id: str) -> bool:
    """Start charging on, and watch, a charger. (Ownership will narrow this to owners, co-owners, guests.)"""
    return is_operator(principal) or principal.has(Role.USER)


def may_act_for(principal: Principal, user: str | None) -> bool:
    """Stop, read or change something that belongs to ``user``."""
    return is_operator(principal) or (user is not None and user == principal.subject)


def check_operator(principal: Principal, what: str) -> None:
    if not is_operator(principal):
        raise Problem(403, "Forbidden", f"only an operator may {what}")


def check_may_use_charger(principal: Principal, station_id: str) -> None:
    if not may_use_charger(principal, station_id):
        raise Problem(403, "Forbidden", f"you may not use charger {station_id}")


def check_may_set_tariff(principal: Principal, station_id: str) -> None:
    """Set a charger's tariff: an operator, or whoever may use the charger (ownership will narrow it to owners)."""
    if not (is_operator(principal) or may_use_charger(principal, station_id)):
        raise Problem(403, "Forbidden", f"you may not set the tariff of charger {station_id}")


def check_may_act_for(principal: Principal, user: str | None, what: str) -> None:
    if not may_act_for(principal, user):
        raise Problem(403, "Forbidden", f"{what} is not yours")


def check_may_see(principal: Principal, user: str | None, missing: str) -> None:
    """Read something of ``user``'s: someone else's is answered as missing (404), so its existence is not revealed."""
    if not may_act_for(principal, user):
        raise Problem(404, "Not Found", missing)


def visible_to(principal: Principal) -> Visibility:
    """The transactions ``principal`` may read (history, detail, energy): an operator every one, a user those
    charged to them. Ownership (an owner seeing the sessions on their charger) will widen it here."""
    if is_operator(principal):
        return Visibility(everything=True)
    return Visibility(users=frozenset({principal.subject}))


def may_watch(principal: Principal, station_id: str) -> bool:
    """Follow a charger's transactions live: whoever may use the charger."""
    return may_use_charger(principal, station_id)


def check_may_remove(principal: Principal, email: str) -> None:
    """Operators remove users, but not themselves over the API (the last operator would lock everyone out)."""
    if email.strip().lower() == principal.subject.strip().lower():
        raise Problem(409, "Conflict", "an operator may not remove themselves; ask another operator")
