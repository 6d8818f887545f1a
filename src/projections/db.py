"""A small database handle for read models: SQLite (embedded default, memory) or PostgreSQL.

The same SQL runs on both: ``%s`` placeholders (rewritten to ``?`` for SQLite), ``ON CONFLICT`` upserts,
timestamps stored as ISO-8601 text so they sort the same everywhere.
"""

from __future__ import annotations

import json
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
    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], conflict: str) -> None:
        """Insert ``rows`` (values of ``columns``) with the ``ON CONFLICT ...`` clause ``conflict``; no two rows
        may share a conflict key when it updates (one statement on PostgreSQL may not touch a row twice)."""

    def update_rows(self, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Set ``columns`` of the row whose ``key`` is each row's last value, to its other values (distinct keys)."""


def _insert_sql(table: str, columns: Sequence[str], conflict: str) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))}) {conflict}"


def _update_sql(table: str, key: str, columns: Sequence[str]) -> str:
    return f"UPDATE {table} SET {', '.join(f'{name} = %s' for name in columns)} WHERE {key} = %s"


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

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], conflict: str) -> None:
        self.executemany(_insert_sql(table, columns, conflict), rows)

    def update_rows(self, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        self.executemany(_update_sql(table, key, columns), rows)


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

    def insert_rows(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], conflict: str) -> None:
        """One statement for all the rows: they go as one JSON array, read into the table's own row type
        (``json_populate_recordset``), so PostgreSQL parses and plans once and psycopg sends one message, where
        ``executemany`` sends (and the server runs) one statement per row."""
        records = _records(columns, rows)
        if records is None:
            return self.executemany(_insert_sql(table, columns, conflict), rows)
        names = ", ".join(columns)
        sql = f"INSERT INTO {table} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{table}, %s) {conflict}"
        self.cur.execute(sql, (records,))

    def update_rows(self, table: str, key: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """``insert_rows``'s one statement for an update of many rows."""
        records = _records([*columns, key], rows)
        if records is None:
            return self.executemany(_update_sql(table, key, columns), rows)
        sets = ", ".join(f"{name} = x.{name}" for name in columns)
        source = f"json_populate_recordset(NULL::{table}, %s) AS x"
        sql = f"UPDATE {table} SET {sets} FROM {source} WHERE {table}.{key} = x.{key}"
        self.cur.execute(sql, (records,))

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


def _json_value(value: Any) -> Any:
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def _records(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> str | None:
    """``rows`` as a JSON array of objects keyed by ``columns``; None when there are fewer than two (a plain
    statement is as good) or a value has no JSON form (a float that is not finite, anything but text,
    numbers, booleans and NULL): those rows go as parameters of their own."""
    if len(rows) < 2:
        return None
    try:
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        return json.dumps(records, default=_json_value, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError):
        return None
