"""The PostgreSQL event recorder: the event-sourcing library's, with a cheaper insert.

The library inserts a batch by calling its database function with one array of a composite type, which the
driver dumps in Python, field by field (a third of the group committer's time under charging load). This
recorder calls a function of its own with four plain arrays (ids, versions, topics, states), dumped in the
binary format by the driver's C code: about 3.5 times less client CPU for a batch of 100 events, 2 times for
20 (``benchmarks/`` figures in docs/operations.md). What the function does is what the library's does, in
one statement: set the lock timeout, NOTIFY the table's channel, insert, return the notification ids; a
duplicate (id, version) fails the whole call with the same ``IntegrityError``. The table is the library's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier


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
