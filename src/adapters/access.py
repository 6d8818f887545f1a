"""Who may do what with chargers, transactions and id tokens: the one access matrix of the platform.

Every caller is, for a given charger, one **actor**: an operator (runs the network: everything), a manufacturer
(the production line: the devices it makes, never users' data), or, for a user, the charger's owner, a
co-owner, a guest (their role in ``projections.members``), or a stranger. ``MATRIX`` says which actors may do
each thing (``Act``) with a charger; a stranger is answered 404 for anything about the charger, as if it did
not exist (its existence is not revealed), anyone else who may not is answered 403. The REST routes, the live
feed and the read-model queries all ask here: ``on_charger`` for a route about one charger, ``visible_to`` for
the transactions a caller may read (history, detail, energy, the live feed). The members' own routes (members,
invitations, transfer, unpairing) are decided by the ``Ownership`` aggregate's rules, which audit each refusal;
they give the same answers (a stranger 404, a guest 403 on what managers do). The table in ``docs/api.md`` ("Who
may do what") is this matrix route by route; a test walks every route with every actor against it.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from starlette.requests import Request

from adapters.auth import Principal, Role
from adapters.http.common import authenticate, runtime_of
from adapters.http.problems import Problem
from projections.members import role_on, stations_of
from projections.transactions import Visibility

if TYPE_CHECKING:
    from adapters.wiring import Runtime

# who may import batches, get their labels and device lists, release and scrap devices, read the fleet: the
# production line or an operator. A manufacturer sees no users' data (transactions, cards, users).
MANUFACTURING = (Role.OPERATOR, Role.MANUFACTURER)


class Actor(str, enum.Enum):
    """What a caller is to one charger."""

    OPERATOR = "operator"
    MANUFACTURER = "manufacturer"
    OWNER = "owner"
    CO_OWNER = "co-owner"
    GUEST = "guest"
    STRANGER = "stranger"


class Act(str, enum.Enum):
    """What is done with a charger."""

    READ = "read the charger"  # its identity, presence and connector status
    WATCH = "watch the charger live"  # the live feed (a guest: only their own transactions)
    CHARGE = "charge at the charger"  # start charging, stop one's own transaction
    STOP_ANY = "stop anyone's transaction on the charger"
    ENERGY = "read the charger's energy"
    SETTINGS = "change the charger's settings"
    GUEST_CERTIFICATE = "get a guest certificate for the charger"
    MANUFACTURE = "handle the charger's device and labels"  # the production line
    OPERATE = "operate the charger"  # its audit trail, security, certificates, reset


_MEMBERS = frozenset({Actor.OWNER, Actor.CO_OWNER})
MATRIX: dict[Act, frozenset[Actor]] = {
    Act.READ: frozenset({Actor.OPERATOR, Actor.MANUFACTURER, *_MEMBERS, Actor.GUEST}),
    Act.WATCH: frozenset({Actor.OPERATOR, *_MEMBERS, Actor.GUEST}),
    Act.CHARGE: frozenset({Actor.OPERATOR, *_MEMBERS, Actor.GUEST}),
    Act.STOP_ANY: frozenset({Actor.OPERATOR, *_MEMBERS}),
    Act.ENERGY: frozenset({Actor.OPERATOR, *_MEMBERS}),
    Act.SETTINGS: frozenset({Actor.OPERATOR, *_MEMBERS}),
    Act.GUEST_CERTIFICATE: frozenset({Actor.GUEST}),
    Act.MANUFACTURE: frozenset({Actor.OPERATOR, Actor.MANUFACTURER}),
    Act.OPERATE: frozenset({Actor.OPERATOR}),
}
SEES_EVERY_TRANSACTION = (Actor.OWNER.value, Actor.CO_OWNER.value)  # on their chargers


def is_operator(principal: Principal) -> bool:
    return principal.has(Role.OPERATOR)


def actor(principal: Principal, member_role: str | None) -> Actor:
    """What ``principal`` is to a charger on which they hold ``member_role`` (None: no role)."""
    if is_operator(principal):
        return Actor.OPERATOR
    if principal.has(Role.MANUFACTURER):
        return Actor.MANUFACTURER
    return Actor(member_role) if member_role is not None else Actor.STRANGER


def check(who: Actor, act: Act, station_id: str) -> None:
    """Refuse ``act`` unless the matrix allows it: 404 for a stranger (nothing revealed), 403 for the others."""
    if who in MATRIX[act]:
        return
    if who is Actor.STRANGER:
        raise Problem(404, "Not Found", f"no charger {station_id}")
    raise Problem(403, "Forbidden", f"a {who.value} may not {act.value} ({station_id})")


async def actor_on(runtime: Runtime, principal: Principal, station_id: str) -> Actor:
    """What ``principal`` is to the charger (their member role read only when it matters)."""
    if is_operator(principal) or principal.has(Role.MANUFACTURER):
        return actor(principal, None)
    return actor(principal, await runtime.run(role_on, runtime.db, station_id, principal.subject))


async def on_charger(request: Request, act: Act) -> tuple[Principal, Actor]:
    """The caller of a route about the charger in its path (``station_id``), allowed to do ``act`` there."""
    principal = await authenticate(request)
    return principal, await admit(runtime_of(request), principal, request.path_params["station_id"], act)


async def admit(runtime: Runtime, principal: Principal, station_id: str, act: Act) -> Actor:
    who = await actor_on(runtime, principal, station_id)
    check(who, act, station_id)
    return who


def may_act_for(principal: Principal, user: str | None) -> bool:
    """Stop, read or change something that belongs to ``user``."""
    return is_operator(principal) or (user is not None and user == principal.subject)


def check_operator(principal: Principal, what: str) -> None:
    if not is_operator(principal):
        raise Problem(403, "Forbidden", f"only an operator may {what}")


def check_may_act_for(principal: Principal, user: str | None, what: str) -> None:
    if not may_act_for(principal, user):
        raise Problem(403, "Forbidden", f"{what} is not yours")


def check_may_see(principal: Principal, user: str | None, missing: str) -> None:
    """Read something of ``user``'s: someone else's is answered as missing (404), so its existence is not revealed."""
    if not may_act_for(principal, user):
        raise Problem(404, "Not Found", missing)


async def visible_to(runtime: Runtime, principal: Principal) -> Visibility:
    """The transactions ``principal`` may read (history, detail, energy, the live feed): an operator every one;
    a user those charged to them and every one on the chargers they own or co-own (a guest's own, then, are
    seen by the charger's owners too); a manufacturer only their own (they charge nothing)."""
    if is_operator(principal):
        return Visibility(everything=True)
    stations: list[str] = []
    if principal.has(Role.USER):
        stations = await runtime.run(stations_of, runtime.db, principal.subject, SEES_EVERY_TRANSACTION)
    return Visibility(users=frozenset({principal.subject}), stations=frozenset(stations))


def check_may_remove(principal: Principal, email: str) -> None:
    """Operators remove users, but not themselves over the API (the last operator would lock everyone out)."""
    if email.strip().lower() == principal.subject.strip().lower():
        raise Problem(409, "Conflict", "an operator may not remove themselves; ask another operator")
