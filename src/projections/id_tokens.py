"""The id-token read model: every RFID card and guest token, whose it is and its status."""

from __future__ import annotations

from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.id_token import IdToken
from projections.db import ReadModelDB, Tx

COLUMNS = "id_token, type, kind, user_email AS user, label, status, registered_at, changed_at"


class IdTokensProjection:
    name = "id_tokens"

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_id_tokens (id_token TEXT PRIMARY KEY, token_id TEXT NOT NULL UNIQUE,"
            " type TEXT NOT NULL, kind TEXT NOT NULL, user_email TEXT NOT NULL, label TEXT NOT NULL,"
            " status TEXT NOT NULL, registered_at TEXT NOT NULL, changed_at TEXT NOT NULL)"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_id_tokens_user ON rm_id_tokens (user_email, id_token)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_id_tokens")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Other events are not about id tokens."""

    @apply.register
    def _(self, event: IdToken.Registered, tx: Tx, position: int) -> None:
        at = event.timestamp.isoformat()
        tx.execute(
            "INSERT INTO rm_id_tokens (id_token, token_id, type, kind, user_email, label, status, registered_at,"
            " changed_at) VALUES (%s, %s, %s, %s, %s, %s, 'active', %s, %s)",
            (event.value, str(event.originator_id), event.token_type, event.kind, event.user, event.label, at, at),
        )

    @apply.register
    def _(self, event: IdToken.Reissued, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_id_tokens SET type = %s, kind = %s, user_email = %s, label = %s, status = 'active',"
            " registered_at = %s, changed_at = %s WHERE token_id = %s",
            (
                event.token_type,
                event.kind,
                event.user,
                event.label,
                event.timestamp.isoformat(),
                event.timestamp.isoformat(),
                str(event.originator_id),
            ),
        )

    @apply.register
    def _(self, event: IdToken.StatusChanged, tx: Tx, position: int) -> None:
        tx.execute(
            "UPDATE rm_id_tokens SET status = %s, changed_at = %s WHERE token_id = %s",
            (event.status, event.timestamp.isoformat(), str(event.originator_id)),
        )


class IdTokenQueries:
    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list_tokens(self, *, user: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
        where, params = ["status <> 'removed'"], []
        if user:
            where.append("user_email = %s")
            params.append(user)
        if after:
            where.append("id_token > %s")
            params.append(after)
        return self.db.query(
            f"SELECT {COLUMNS} FROM rm_id_tokens WHERE {' AND '.join(where)} ORDER BY id_token LIMIT %s",
            (*params, limit),
        )

    def dump(self) -> list[dict[str, Any]]:
        return self.db.query(f"SELECT {COLUMNS} FROM rm_id_tokens ORDER BY id_token")
