"""PostgreSQL databases for tests: copies of a template that already holds the platform's tables, reused.

Creating the tables of the event store and of every read model takes about a hundred DDL statements, each
committed, and a ``CREATE DATABASE`` costs the server about 0.3 s of CPU: over the suite's PostgreSQL tests,
minutes of the two cores' time. So each test process builds one template the first time it needs a database
(a platform started on it once: its tables, functions and indexes are those a platform leaves behind after its
first start), and a test's database is a copy of it. When the test is done, its database is emptied (every row
deleted, every sequence restarted: about 20 ms) and handed to the next test, unless its schema is no longer the
template's (a test that altered a table): that one is dropped. A platform started on it finds its tables and
creates only what is missing, as on every restart. The template and the kept databases are dropped when the
process exits. The first start on an empty database is still tested: by the template's own build, and by the
tests that start ``cloudbay serve`` against a database of their own.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from adapters.settings import Settings, StoreSettings
from adapters.storage import drop_database, ensure_database
from adapters.wiring import Runtime

PG_BASE = os.environ.get("CLOUDBAY_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
SCHEMA = """
SELECT
  (SELECT string_agg(table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, ''),
                     ',' ORDER BY table_name, column_name)
     FROM information_schema.columns WHERE table_schema = 'public'),
  (SELECT string_agg(indexdef, ',' ORDER BY indexdef) FROM pg_indexes WHERE schemaname = 'public'),
  (SELECT string_agg(p.proname || md5(p.prosrc), ',' ORDER BY p.proname)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'),
  (SELECT string_agg(tgname, ',' ORDER BY tgname) FROM pg_trigger WHERE NOT tgisinternal)
"""

_template: tuple[str, tuple[object, ...]] | None = None  # its name, and its schema as ``SCHEMA`` reads it
_free: list[str] = []  # emptied databases, ready for the next test


def _build_template() -> tuple[str, tuple[object, ...]]:
    name = f"cloudbay_test_template_{uuid.uuid4().hex[:12]}"
    store = StoreSettings(f"{PG_BASE}/{name}")
    ensure_database(store)
    atexit.register(drop_database, store)
    with tempfile.TemporaryDirectory() as data:
        Runtime(Settings(store=store, data_dir=Path(data), node="template")).close()
    with psycopg.connect(store.url) as conn:
        schema = conn.execute(SCHEMA).fetchone()
    assert schema is not None
    return name, tuple(schema)


def create_test_database() -> str:
    """The URL of a database holding the platform's empty tables, for one test (give it back with
    ``drop_test_database``)."""
    global _template
    if _free:
        return _free.pop()
    if _template is None:
        _template = _build_template()
        atexit.register(_drop_free)
    name = f"cloudbay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{PG_BASE}/postgres", autocommit=True) as conn:
        conn.execute(
            sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name), sql.Identifier(_template[0]))
        )
    return f"{PG_BASE}/{name}"


def drop_test_database(url: str) -> None:
    """Done with a database of ``create_test_database``: emptied for the next test, or dropped."""
    try:
        reusable = _empty(url)
    except psycopg.Error:
        reusable = False
    if reusable:
        _free.append(url)
    else:
        drop_database(StoreSettings(url))


def _empty(url: str) -> bool:
    """Delete every row and restart every sequence, once no other session is connected; False (nothing done)
    if the schema is not the template's."""
    assert _template is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        schema = conn.execute(SCHEMA).fetchone()
        if schema is None or tuple(schema) != _template[1]:
            return False
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
        sequences = conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall()
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # no foreign-key order to follow
            for (table,) in tables:
                conn.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(table)))
            for (sequence,) in sequences:
                conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(sql.Identifier(sequence)))
    return True


def _drop_free() -> None:  # registered after the template's drop, so it runs before it
    while _free:
        drop_database(StoreSettings(_free.pop()))
