"""The users read model: every operator and app user, their role and whether they are still registered.

Secrets (even hashed) never reach it. A removed user keeps their row with ``status = 'removed'``; registering
the e-mail again makes it ``active`` with the new role and registration time.
"""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.user import User, UserError, normalise_email
from projections.db import ReadModelDB, Tx

COLUMNS = "email, role, status, registered_at, changed_at, version"
STATUSES = ("active", "removed")


class UsersProjection:
    name = "users"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_users (email TEXT PRIMARY KEY, user_id TEXT NOT NULL UNIQUE,"
            " role TEXT NOT NULL, status TEXT NOT NULL, registered_at TEXT NOT NULL, changed_at TEXT NOT NULL,"
            " version INTEGER NOT NULL)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_users_status ON rm_users (status, email)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_users")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not about users."""

    @apply.register
    def _(self, event: User.Registered, tx: Tx, position: int) -> None:
        at = event.timestamp.isoformat()
        tx.execute(
            "INSERT INTO rm_users (email, user_id, role, status, registered_at, changed_at, version)"
            " VALUES (%s, %s, %s, 'active', %s, %s, %s)",
            (event.email, str(event.originator_id), event.role, at, at, event.originator_version),
        )

    @apply.register
    def _(self, event: User.SecretRotated, tx: Tx, position: int) -> None:
        self._change(tx, event)

    @apply.register
    def _(self, event: User.Removed, tx: Tx, position: int) -> None:
        self._change(tx, event, status="removed")

    @apply.register
    def _(self, event: User.Reregistered, tx: Tx, position: int) -> None:
        at = event.timestamp.isoformat()
        self._change(tx, event, status="active", role=event.role, registered_at=at)

    def _change(self, tx: Tx, event: User.Event, **columns: Any) -> None:
        sets = "".join(f"{name} = %s, " for name in columns)
        tx.execute(
            f"UPDATE rm_users SET {sets}changed_at = %s, version = %s WHERE user_id = %s",
            (*columns.values(), event.timestamp.isoformat(), event.originator_version, str(event.originator_id)),
        )


class UserQueries:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list_users(self, *, status: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        """Users by e-mail; ``status`` None: the active ones."""
        where, params = ["status = %s"], [status or "active"]
        if after:
            where.append("email > %s")
            params.append(after)
        return self.db.query(
            f"SELECT {COLUMNS} FROM rm_users WHERE {' AND '.join(where)} ORDER BY email LIMIT %s", (*params, limit)
        )

    def get_user(self, email: str) -> dict[str, Any] | None:
        """One user (removed ones too) by any spelling of the e-mail; None when unknown or not an e-mail."""
        try:
            email = normalise_email(email)
        except UserError:
            return None
        rows = self.db.query(f"SELECT {COLUMNS} FROM rm_users WHERE email = %s", (email,))
        return rows[0] if rows else None

    def dump(self) -> list[dict[str, Any]]:
        return self.db.query(f"SELECT {COLUMNS} FROM rm_users ORDER BY email")
