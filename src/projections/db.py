"""A small database handle for read models: SQLite (embedded default, memory) or PostgreSQL.

The same SQL runs on both: ``%s`` placeholders (rewritten to ``?`` for SQLite), ``ON CONFLICT`` upserts,
timestamps stored as ISO-8601 text so they sort the same everywhere.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

CONNECT_TIMEOUT = 5  # seconds for one connection attempt to PostgreSQL


class Tx(Protocol):
    def execute(self, sql: str, params: Sequence[Any] = ()) -> None: ...
    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...
    def columns(self, table: str) -> set[str]: ...
    def one_of(self, column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]: ...


def add_missing_columns(tx: Tx, table: str, columns: dict[str, str]) -> None:
    """Give a table made by an earlier version the columns it lacks (``name: type and default``): an existing
    read model gets a new column without a rebuild, filled with the default its older rows should have."""
    have = tx.columns(table)
    for name, ddl in columns.items():
        if name not in have:
            tx.execute(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}")


class Location(Protocol):
    """Where read models live (the platform's store settings satisfy it): ``kind`` is postgres, sqlite or memory."""

    @property
    def kind(self) -> str: ...
    @property
    def sqlite_read_model_path(self) -> Path: ...
    def postgres_params(self) -> dict[str, str]: ...


class ReadModelDB:
    """Read-model storage. Use ``transaction()`` to write; ``query()`` to read."""

    def __init__(self, settings: Location) -> None:
        self.kind = settings.kind
        self._lock = threading.RLock()
        self._pool: Any = None
        self._sqlite: sqlite3.Connection | None = None
        if self.kind == "postgres":
            from psycopg.conninfo import make_conninfo
            from psycopg.rows import dict_row
            from psycopg_pool import ConnectionPool

            conninfo = make_conninfo(**settings.postgres_params(), connect_timeout=CONNECT_TIMEOUT)
            self._pool = ConnectionPool(conninfo, min_size=1, max_size=8, kwargs={"row_factory": dict_row}, open=True)
        else:
            path = ":memory:" if self.kind == "memory" else str(settings.sqlite_read_model_path)
            if self.kind == "sqlite":
                settings.sqlite_read_model_path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
            conn.row_factory = sqlite3.Row
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            self._sqlite = conn

    @contextmanager
    def transaction(self, write: bool = True) -> Iterator[Tx]:
        """One transaction. ``write=False`` on SQLite takes no write lock, so reads never wait for a writer
        in another process (the projector)."""
        if self._pool is not None:
            with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
                yield _PgTx(cur)
        else:
            assert self._sqlite is not None
            with self._lock:
                self._sqlite.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield _SqliteTx(self._sqlite)
                except BaseException:
                    self._sqlite.execute("ROLLBACK")
                    raise
                self._sqlite.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.transaction(write=False) as tx:
            return tx.fetchall(sql, params)

    def ping(self) -> None:
        self.query("SELECT 1 AS ok")

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        if self._sqlite is not None:
            self._sqlite.close()


class _SqliteTx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql.replace("%s", "?"), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.conn.executemany(sql.replace("%s", "?"), [tuple(row) for row in rows])

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(row) for row in self.conn.execute(sql.replace("%s", "?"), tuple(params))]

    def columns(self, table: str) -> set[str]:
        return {row["name"] for row in self.fetchall("SELECT name FROM pragma_table_info(%s)", (table,))}

    @staticmethod
    def one_of(column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """A condition that ``column`` is one of ``values`` and its parameters (an ``IN`` list here)."""
        return f"{column} IN ({', '.join(['%s'] * len(values))})", tuple(values)


class _PgTx:
    def __init__(self, cur: Any) -> None:
        self.cur = cur

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.cur.execute(sql, tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [tuple(row) for row in rows]
        if batch:  # one round trip for all of them (psycopg pipelines the statements)
            self.cur.executemany(sql, batch)

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        self.cur.execute(sql, tuple(params))
        return list(self.cur.fetchall())

    @staticmethod
    def one_of(column: str, values: Sequence[Any]) -> tuple[str, tuple[Any, ...]]:
        """``column = ANY(array)``: one statement text whatever the number of values, so psycopg parses it once
        and the server prepares it (an ``IN`` list is a new text per length, re-parsed every time)."""
        return f"{column} = ANY(%s)", (list(values),)

    def columns(self, table: str) -> set[str]:
        rows = self.fetchall(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND table_name = %s",
            (table,),
        )
        return {row["column_name"] for row in rows}
