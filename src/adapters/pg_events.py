"""The PostgreSQL event recorder: the event-sourcing library's, with a cheaper insert.

The library inserts a batch by calling its database function with one array of a composite type, which the
driver dumps in Python, field by field (a third of the group committer's time under charging load). This
recorder calls a function of its own with four plain arrays (ids, versions, topics, states), dumped in the
binary format by the driver's C code: about 3.5 times less client CPU for a batch of 100 events, 2 times for
20 (``benchmarks/`` figures in docs/operations.md). What the function does is what the library's does, in
one statement: set the lock timeout, NOTIFY the table's channel, insert, return the notification ids; a
duplicate (id, version) fails the whole call with the same ``IntegrityError``. The table is the library's.

It also reads the log's notifications in the binary format as plain tuples, where the library selects every
column as text into one dict per row (the stored state comes as hex text, twice its size, then decoded): the
projectors and ``cloudbay replay`` read every event so.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, Notification, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.rows import tuple_row
from psycopg.sql import SQL, Composed, Identifier


class TypedArraysRecorder(PostgresApplicationRecorder):
    """``PostgresApplicationRecorder`` inserting through ``<table>_insert`` (plain arrays, binary)."""

    def __init__(self, datastore: PostgresDatastore, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        self.typed_function = f"{events_table_name}_insert"
        names = {
            "schema": Identifier(datastore.schema),
            "function": Identifier(self.typed_function),
            "table": Identifier(events_table_name),
            "channel": Identifier(self.channel_name),
        }
        self.sql_create_statements.append(
            SQL(
                "CREATE OR REPLACE FUNCTION {schema}.{function}"
                "(ids uuid[], versions bigint[], topics text[], states bytea[]) "
                "RETURNS SETOF bigint LANGUAGE plpgsql AS $BODY$ "
                "BEGIN "
                "SET LOCAL lock_timeout = '{lock_timeout}s'; "
                "NOTIFY {channel}; "
                "RETURN QUERY INSERT INTO {schema}.{table} AS t (originator_id, originator_version, topic, state) "
                "SELECT * FROM unnest(ids, versions, topics, states) RETURNING notification_id; "
                "END; $BODY$"
            ).format(lock_timeout=SQL(str(int(datastore.lock_timeout))), **names)
        )
        self.sql_invoke_typed = SQL(
            "SELECT * FROM {schema}.{function}(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[])"
        ).format(**names)
        self.typed = datastore.enable_db_functions and datastore.originator_id_type == "uuid"
        self.sql_select = SQL(
            "SELECT notification_id, originator_id, originator_version, topic, state FROM {schema}.{table}"
        ).format(**names)

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        if not self.typed:
            return super().insert_events(stored_events, **kwargs)
        if not stored_events:
            return []
        columns = (
            [e.originator_id for e in stored_events],
            [e.originator_version for e in stored_events],
            [e.topic for e in stored_events],
            [e.state for e in stored_events],
        )
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self.sql_invoke_typed, columns, prepare=True)
            return [row[self.typed_function] for row in curs.fetchall()]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Sequence[str] = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Sequence[Notification]:
        """The library's selection (same rows, same order), read in the binary format as tuples."""
        clauses, params = _window(start, stop, topics, inclusive_of_start)
        statement: Composed = self.sql_select + SQL(f"{clauses} ORDER BY notification_id LIMIT %s")
        with self.datastore.get_connection() as conn, conn.cursor(binary=True, row_factory=tuple_row) as curs:
            curs.execute(statement, [*params, limit], prepare=True)
            return [
                Notification(id=n, originator_id=o, originator_version=v, topic=t, state=s)
                for n, o, v, t, s in curs.fetchall()
            ]


def _window(
    start: int | None, stop: int | None, topics: Sequence[str], inclusive_of_start: bool
) -> tuple[str, list[Any]]:
    conditions: list[str] = []
    params: list[Any] = []
    if start is not None:
        conditions.append("notification_id >= %s" if inclusive_of_start else "notification_id > %s")
        params.append(start)
    if stop is not None:
        conditions.append("notification_id <= %s")
        params.append(stop)
    if topics:
        conditions.append("topic = ANY(%s)")
        params.append(list(topics))
    return (" WHERE " + " AND ".join(conditions) if conditions else ""), params
