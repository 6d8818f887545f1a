"""The Ownership aggregate: after pairing there is always exactly one owner; members' roles change only through
commands an owner (or co-owner) may issue; refused commands record nothing; the members read model agrees."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.application import Application
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.settings import StoreSettings
from cloudbay_domain.membership import (
    AlreadyMember,
    AlreadyPaired,
    InvitationExpired,
    InvitationNotOpen,
    LastOwner,
    MemberRole,
    NotAllowed,
    NotAMember,
    OwnershipError,
    WrongInvitee,
    locked_until,
)
from cloudbay_domain.ownership import Ownership
from projections.db import ReadModelDB
from projections.follower import catch_up, prepare
from projections.members import MembersProjection, member_periods, members_of, role_on, stations_of

STATION = "CB-OWN-1"
T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PEOPLE = ["ann@example.com", "bob@example.com", "cy@example.com", "di@example.com"]
OPERATOR = "ops@example.com"


def paired(owner: str = PEOPLE[0]) -> Ownership:
    ownership = Ownership(STATION)
    ownership.pair(owner, T0)
    return ownership


def invite_and_join(o: Ownership, by: str, who: str, role: MemberRole, n: int = 0) -> None:
    o.invite(by, who, role, f"hash-{who}-{n}", T0 + timedelta(days=1))
    o.accept(f"hash-{who}-{n}", who, T0 + timedelta(minutes=1))


def test_the_pairing_user_is_the_one_owner_and_a_second_claim_is_refused() -> None:
    o = paired()
    assert o.owner == PEOPLE[0] and o.role_of(PEOPLE[0]) is MemberRole.OWNER
    with pytest.raises(AlreadyPaired, match="invitation"):
        o.pair(PEOPLE[1], T0)


def test_an_invitation_is_single_use_expires_and_is_for_its_address_only() -> None:
    o = paired()
    o.invite(PEOPLE[0], PEOPLE[1], MemberRole.GUEST, "h1", T0 + timedelta(hours=1))
    with pytest.raises(WrongInvitee):
        o.accept("h1", PEOPLE[2], T0)
    with pytest.raises(InvitationExpired):
        o.accept("h1", PEOPLE[1], T0 + timedelta(hours=1))
    o.accept("h1", PEOPLE[1], T0)
    assert o.role_of(PEOPLE[1]) is MemberRole.GUEST
    with pytest.raises(InvitationNotOpen, match="used"):
        o.accept("h1", PEOPLE[1], T0)


def test_members_are_managed_by_the_owner_and_co_owners_only() -> None:
    o = paired()
    invite_and_join(o, PEOPLE[0], PEOPLE[1], MemberRole.CO_OWNER)
    invite_and_join(o, PEOPLE[1], PEOPLE[2], MemberRole.GUEST)
    with pytest.raises(NotAllowed):
        o.invite(PEOPLE[2], PEOPLE[3], MemberRole.GUEST, "h", T0 + timedelta(days=1))
    with pytest.raises(NotAllowed):
        o.change_role(PEOPLE[2], PEOPLE[2], MemberRole.CO_OWNER)
    with pytest.raises(NotAMember):
        o.remove(PEOPLE[3], PEOPLE[2])
    with pytest.raises(AlreadyMember):
        o.invite(PEOPLE[0], PEOPLE[0], MemberRole.GUEST, "h", T0 + timedelta(days=1))
    with pytest.raises(NotAllowed):  # a co-owner cannot give the charger away
        o.invite(PEOPLE[1], PEOPLE[3], MemberRole.OWNER, "h", T0 + timedelta(days=1))
    o.change_role(PEOPLE[1], PEOPLE[2], MemberRole.CO_OWNER)
    assert o.role_of(PEOPLE[2]) is MemberRole.CO_OWNER


def test_the_owner_cannot_leave_be_removed_or_demoted_only_transfer() -> None:
    o = paired()
    invite_and_join(o, PEOPLE[0], PEOPLE[1], MemberRole.CO_OWNER)
    for refused in (
        lambda: o.remove(PEOPLE[0], PEOPLE[0]),
        lambda: o.remove(PEOPLE[1], PEOPLE[0]),
        lambda: o.change_role(PEOPLE[1], PEOPLE[0], MemberRole.GUEST),
        lambda: o.change_role(PEOPLE[0], PEOPLE[1], MemberRole.OWNER),
        lambda: o.remove(OPERATOR, PEOPLE[0], operator=True),
    ):
        with pytest.raises(LastOwner):
            refused()
    o.invite(PEOPLE[0], PEOPLE[1], MemberRole.OWNER, "t", T0 + timedelta(days=1))
    o.accept("t", PEOPLE[1], T0)
    assert o.owner == PEOPLE[1] and o.role_of(PEOPLE[0]) is MemberRole.CO_OWNER
    o.remove(PEOPLE[0], PEOPLE[0])  # now they may leave
    assert set(o.members) == {PEOPLE[1]}


def test_unpairing_removes_every_member_and_voids_open_invitations() -> None:
    o = paired()
    invite_and_join(o, PEOPLE[0], PEOPLE[1], MemberRole.GUEST)
    o.invite(PEOPLE[0], PEOPLE[2], MemberRole.GUEST, "open", T0 + timedelta(days=1))
    with pytest.raises(NotAllowed):
        o.unpair(PEOPLE[1])
    o.unpair(OPERATOR, operator=True, reason="factory reset")
    assert not o.paired and o.members == {}
    with pytest.raises(InvitationNotOpen):
        o.accept("open", PEOPLE[2], T0)
    o.pair(PEOPLE[3], T0)  # a reset charger can be paired again
    assert o.owner == PEOPLE[3] and o.pairings == 2


def test_the_lock_counts_failures_within_the_window() -> None:
    lock = timedelta(minutes=15)
    times = [T0 + timedelta(minutes=m) for m in (0, 1, 2, 3)]
    assert locked_until(times, 5, lock) is None
    assert locked_until([*times, T0 + timedelta(minutes=4)], 5, lock) == T0 + timedelta(minutes=19)
    spread = [T0 + timedelta(minutes=10 * m) for m in range(5)]
    assert locked_until(spread, 5, lock) is None


# --- properties ---------------------------------------------------------------------------------

Command = tuple[str, int, int, str]  # (kind, actor, target, role)
commands = st.lists(
    st.tuples(
        st.sampled_from(["pair", "invite", "accept", "role", "remove", "transfer", "unpair", "revoke"]),
        st.integers(0, len(PEOPLE)),  # len(PEOPLE): the operator
        st.integers(0, len(PEOPLE) - 1),
        st.sampled_from([r.value for r in MemberRole]),
    ),
    max_size=40,
)


def run(o: Ownership, command: Command, n: int) -> None:
    kind, actor, target, role = command
    by, who, operator = (OPERATOR if actor == len(PEOPLE) else PEOPLE[actor]), PEOPLE[target], actor == len(PEOPLE)
    at, token = T0 + timedelta(minutes=n), f"h{target}"
    if kind == "pair":
        o.pair(by, at)
    elif kind == "invite":
        o.invite(by, who, MemberRole(role), f"{token}-{n}", at + timedelta(minutes=30))
    elif kind == "accept":
        open_for = [h for h, i in o.invitations.items() if i.email == by and i.state == "open"]
        o.accept(open_for[-1] if open_for else "none", by, at)
    elif kind == "role":
        o.change_role(by, who, MemberRole(role), operator)
    elif kind == "remove":
        o.remove(by, who, operator)
    elif kind == "transfer":
        o.invite(by, who, MemberRole.OWNER, f"{token}-{n}", at + timedelta(minutes=30))
    elif kind == "unpair":
        o.unpair(by, operator)
    else:
        o.revoke_invitation(next(iter(o.invitations), "none"), by, operator)


def check_invariants(o: Ownership) -> None:
    owners = [m for m, member in o.members.items() if member.role is MemberRole.OWNER]
    assert len(owners) == (1 if o.paired else 0)


@settings(max_examples=300, deadline=None)
@given(commands)
def test_exactly_one_owner_and_roles_change_only_through_permitted_commands(sequence: list[Command]) -> None:
    o = Ownership(STATION)
    for n, command in enumerate(sequence):
        before = dict(o.members)
        actor_role = o.role_of(OPERATOR if command[1] == len(PEOPLE) else PEOPLE[command[1]])
        pending = len(o.pending_events)
        try:
            run(o, command, n)
        except (OwnershipError, KeyError):
            assert o.members == before and len(o.pending_events) == pending  # a refusal records nothing
        else:
            changed = o.members != before
            operator = command[1] == len(PEOPLE)
            if changed and command[0] in ("role", "remove") and not operator:
                leaving = command[0] == "remove" and PEOPLE[command[1]] == PEOPLE[command[2]]
                assert leaving or actor_role in (MemberRole.OWNER, MemberRole.CO_OWNER)
            if changed and command[0] == "unpair" and not operator:
                assert actor_role is MemberRole.OWNER
        check_invariants(o)
    replayed = replay(o)
    assert replayed.members == o.members and replayed.invitations == o.invitations


def replay(o: Ownership) -> Ownership:
    copy: Ownership | None = None
    for e in o.collect_events():
        copy = e.mutate(copy)  # type: ignore[arg-type]
    assert copy is not None
    return copy


class Log:
    def __init__(self) -> None:
        self.app: Application[UUID] = Application(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
        self.db = ReadModelDB(StoreSettings("memory://"))
        self.projection = MembersProjection()
        prepare(self.db, self.projection)

    def save(self, *aggregates: Any) -> None:
        self.app.save(*aggregates)
        while catch_up(self.app, self.db, self.projection):
            pass


@settings(max_examples=60, deadline=None)
@given(commands)
def test_the_members_read_model_agrees_with_the_aggregate(sequence: list[Command]) -> None:
    log, o = Log(), Ownership(STATION)
    for n, command in enumerate(sequence):
        try:
            run(o, command, n)
        except (OwnershipError, KeyError):
            pass
        log.save(o)
        rows = {row["member"]: row["role"] for row in members_of(log.db, STATION)}
        assert rows == {who: m.role.value for who, m in o.members.items()}
        for person in PEOPLE:
            role = o.role_of(person)
            assert role_on(log.db, STATION, person) == (role.value if role else None)
            assert stations_of(log.db, person, [r.value for r in MemberRole]) == ([STATION] if person in rows else [])
    for person in PEOPLE:
        open_periods = [p for p in member_periods(log.db, STATION, person) if p["until"] is None]
        assert len(open_periods) == (1 if person in o.members else 0)
