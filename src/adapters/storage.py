"""Storage set-up that the event-store library leaves to us: the PostgreSQL database itself."""

from __future__ import annotations

from adapters.settings import CONNECT_TIMEOUT_SECONDS, StoreSettings


class StoreUnreachable(RuntimeError):
    """The configured database does not answer: the message names the setting and the host, on one line."""


def unreachable(store: StoreSettings, error: BaseException) -> StoreUnreachable:
    params = store.postgres_params()
    reason = "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__
    where = f"{params['host']}:{params['port']}"
    return StoreUnreachable(f"cannot reach the database at {where} (CLOUDBAY_DATABASE_URL): {reason}")


def ensure_database(store: StoreSettings) -> None:
    """Create the configured PostgreSQL database if it does not exist (tables are created by their owners).

    Raises :class:`StoreUnreachable` within ``CONNECT_TIMEOUT_SECONDS`` when the server does not answer."""
    if store.kind != "postgres":
        return
    import psycopg

    try:
        _ensure_database(store)
    except psycopg.OperationalError as e:
        raise unreachable(store, e) from None


def _ensure_database(store: StoreSettings) -> None:
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    params = store.postgres_params()
    admin = {**params, "dbname": "postgres"}
    with psycopg.connect(make_conninfo(**admin), autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (params["dbname"],)).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(params["dbname"])))
            except psycopg.errors.DuplicateDatabase:
                pass  # created meanwhile by another node


def drop_database(store: StoreSettings) -> None:
    """Drop the configured PostgreSQL database (used by tests)."""
    if store.kind != "postgres":
        return
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    params = store.postgres_params()
    with psycopg.connect(
        make_conninfo(**{**params, "dbname": "postgres"}), autocommit=True, connect_timeout=10
    ) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(params["dbname"])))
