"""The members read model: who has which role on which charger (``rm_members``), and since when.

``rm_members`` holds the current members (station_id, member = the user's subject, role, since); a factory
reset (``Ownership.Unpaired``) empties a charger's rows. ``rm_member_history`` keeps every period a member held
a role (``until`` NULL while it lasts), so what someone could see at a given time can still be decided after
they left. ``rm_ownerships`` maps an ``Ownership`` aggregate to its station id (only its first event names it).

Queries are functions of the read-model database (``MemberQueries`` binds them to one).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.ownership import MemberRole, Ownership
from projections.db import ReadModelDB, Tx

NAME = "members"


class MembersProjection:
    name = NAME

    def create_tables(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE IF NOT EXISTS rm_ownerships (ownership_id TEXT PRIMARY KEY, station_id TEXT NOT NULL)")
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_members (station_id TEXT NOT NULL, member TEXT NOT NULL,"
            " role TEXT NOT NULL, since TEXT NOT NULL, PRIMARY KEY (station_id, member))"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_members_member ON rm_members (member, station_id)")
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_member_history (position BIGINT NOT NULL, station_id TEXT NOT NULL,"
            " member TEXT NOT NULL, role TEXT NOT NULL, since TEXT NOT NULL, until TEXT,"
            " PRIMARY KEY (position, member))"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_member_history_station ON rm_member_history (station_id, member)")

    def drop_tables(self, tx: Tx) -> None:
        for table in ("rm_member_history", "rm_members", "rm_ownerships"):
            tx.execute(f"DROP TABLE IF EXISTS {table}")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not about members."""

    @apply.register
    def _(self, event: Ownership.Opened, tx: Tx, position: int) -> None:
        tx.execute(
            "INSERT INTO rm_ownerships (ownership_id, station_id) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (str(event.originator_id), event.station_id),
        )

    @apply.register
    def _(self, event: Ownership.Paired, tx: Tx, position: int) -> None:
        _join(tx, event, position, event.owner, MemberRole.OWNER.value, event.at)

    @apply.register
    def _(self, event: Ownership.MemberJoined, tx: Tx, position: int) -> None:
        _join(tx, event, position, event.member, event.role, event.at)

    @apply.register
    def _(self, event: Ownership.OwnershipTransferred, tx: Tx, position: int) -> None:
        _join(tx, event, position, event.previous, MemberRole.CO_OWNER.value, event.at)
        _join(tx, event, position, event.owner, MemberRole.OWNER.value, event.at)

    @apply.register
    def _(self, event: Ownership.RoleChanged, tx: Tx, position: int) -> None:
        _join(tx, event, position, event.member, event.role_to, event.timestamp)

    @apply.register
    def _(self, event: Ownership.MemberRemoved, tx: Tx, position: int) -> None:
        _leave(tx, event, [event.member])

    @apply.register
    def _(self, event: Ownership.Unpaired, tx: Tx, position: int) -> None:
        _leave(tx, event, list(event.members))


def _station(tx: Tx, event: Any) -> str:
    rows = tx.fetchall("SELECT station_id FROM rm_ownerships WHERE ownership_id = %s", (str(event.originator_id),))
    return str(rows[0]["station_id"])


def _iso(at: datetime) -> str:
    """Fixed-width UTC text (microseconds always), so text order is time order."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def _join(tx: Tx, event: Any, position: int, member: str, role: str, at: datetime) -> None:
    """``member`` holds ``role`` from ``at`` on (a member already there keeps the time they joined)."""
    station_id, since = _station(tx, event), _iso(at)
    tx.execute(
        "INSERT INTO rm_members (station_id, member, role, since) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (station_id, member) DO UPDATE SET role = excluded.role",
        (station_id, member, role, since),
    )
    _close_period(tx, station_id, member, since)
    tx.execute(
        "INSERT INTO rm_member_history (position, station_id, member, role, since, until)"
        " VALUES (%s, %s, %s, %s, %s, NULL)",
        (position, station_id, member, role, since),
    )


def _close_period(tx: Tx, station_id: str, member: str, at: str) -> None:
    tx.execute(
        "UPDATE rm_member_history SET until = %s WHERE station_id = %s AND member = %s AND until IS NULL",
        (at, station_id, member),
    )


def _leave(tx: Tx, event: Any, members: list[str]) -> None:
    station_id, at = _station(tx, event), _iso(event.timestamp)
    for member in members:
        tx.execute("DELETE FROM rm_members WHERE station_id = %s AND member = %s", (station_id, member))
        _close_period(tx, station_id, member, at)


# --- queries ----------------------------------------------------------------------------------


def role_on(db: ReadModelDB, station_id: str, subject: str) -> str | None:
    """``subject``'s role on the charger now (``owner``, ``co-owner``, ``guest``), or None."""
    rows = db.query("SELECT role FROM rm_members WHERE station_id = %s AND member = %s", (station_id, subject))
    return str(rows[0]["role"]) if rows else None


def stations_of(db: ReadModelDB, subject: str, roles: Collection[str]) -> list[str]:
    """The station ids on which ``subject`` holds one of ``roles`` now, in order."""
    wanted = [MemberRole(r).value for r in roles]
    if not wanted:
        return []
    marks = ", ".join(["%s"] * len(wanted))
    rows = db.query(
        f"SELECT station_id FROM rm_members WHERE member = %s AND role IN ({marks}) ORDER BY station_id",
        (subject, *wanted),
    )
    return [str(row["station_id"]) for row in rows]


def members_of(db: ReadModelDB, station_id: str) -> list[dict[str, Any]]:
    """The charger's members now: ``{"member", "role", "since"}``, the owner first, then by subject."""
    rows = db.query("SELECT member, role, since FROM rm_members WHERE station_id = %s", (station_id,))
    order = {MemberRole.OWNER.value: 0, MemberRole.CO_OWNER.value: 1, MemberRole.GUEST.value: 2}
    return sorted(rows, key=lambda row: (order.get(row["role"], 3), row["member"]))


def member_periods(db: ReadModelDB, station_id: str, subject: str | None = None) -> list[dict[str, Any]]:
    """Every period a member held a role on the charger (``until`` None: still), oldest first."""
    where, params = "station_id = %s", [station_id]
    if subject is not None:
        where += " AND member = %s"
        params.append(subject)
    return db.query(
        f"SELECT member, role, since, until FROM rm_member_history WHERE {where} ORDER BY position, member", params
    )


class MemberQueries:
    """The queries above, bound to one read-model database."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def role_on(self, station_id: str, subject: str) -> str | None:
        return role_on(self.db, station_id, subject)

    def stations_of(self, subject: str, roles: Collection[str]) -> list[str]:
        return stations_of(self.db, subject, roles)

    def members_of(self, station_id: str) -> list[dict[str, Any]]:
        return members_of(self.db, station_id)

    def member_periods(self, station_id: str, subject: str | None = None) -> list[dict[str, Any]]:
        return member_periods(self.db, station_id, subject)
