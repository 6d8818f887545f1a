"""The transactions history read model: one row per charging transaction.

Events carry facts only; every figure is computed from the transaction's state after each event with the
domain's ``transaction_figures`` (``TransactionStates``), so a rebuild gives the same rows. The figure columns
are ``TransactionFigures``'s fields but ``_NOT_SHOWN``, typed from the fields' types. Timestamps are fixed-width
UTC ISO-8601 text (text order is time order on both stores); ``started_at`` holds the time it was opened until
its first report lands.
"""

from __future__ import annotations

import json
import types
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from functools import singledispatchmethod
from typing import Any, get_args, get_origin, get_type_hints

from cloudbay_domain.figures import TransactionFigures, TransactionStatus
from cloudbay_domain.transaction import Transaction
from projections.batch import Pending, write_rows
from projections.db import ReadModelDB, Tx
from projections.transaction_states import Loader, TransactionStates

NAME = "transactions"
_SQL_TYPES: dict[type, str] = {str: "TEXT", bool: "INTEGER", int: "INTEGER", float: "DOUBLE PRECISION", tuple: "TEXT"}
_NOT_SHOWN = {"unknown_unit_samples", "last_sample_at"}  # figures the history has no column for
_IDENTITY = {
    "tx_id": "TEXT PRIMARY KEY",
    "station_id": "TEXT NOT NULL",
    "transaction_id": "TEXT NOT NULL",
    "evse_id": "INTEGER",
    "connector_id": "INTEGER",
    "user_email": "TEXT",
    "id_token": "TEXT",
    "attribution": "TEXT",
    "authorization_status": "TEXT",
}
# A row's figures from the Opened event until the first report (and ``started_at``: the time it was opened).
# These columns always have a value, so they are NOT NULL; the others appear with the first report.
_OPENED: dict[str, Any] = {
    "status": TransactionStatus.ACTIVE.value, "started_seen": False, "duration_s": 0.0, "charging_s": 0.0,
    "idle_s": 0.0, "energy_wh": 0.0, "register_resets": 0, "missing_seq_nos": (),
}  # fmt: skip


def _column_type(annotation: Any) -> type:
    """The Python type of a figure, without ``| None`` and type arguments (``tuple[int, ...]`` is tuple)."""
    if isinstance(annotation, types.UnionType):
        (annotation,) = (arg for arg in get_args(annotation) if arg is not type(None))
    return get_origin(annotation) or annotation  # type: ignore[no-any-return]


_HINTS = get_type_hints(TransactionFigures)
FIGURE_TYPES: dict[str, type] = {
    f.name: _column_type(_HINTS[f.name]) for f in fields(TransactionFigures) if f.name not in _NOT_SHOWN
}
FIGURES = tuple(FIGURE_TYPES)
SCHEMA = {
    **_IDENTITY,
    **{
        name: _SQL_TYPES[kind] + (" NOT NULL" if name in _OPENED or name == "started_at" else "")
        for name, kind in FIGURE_TYPES.items()
    },
    "version": "INTEGER NOT NULL",
}
COLUMNS = ", ".join(SCHEMA)


def utc_iso(value: str | datetime | None) -> str | None:
    """A timestamp as fixed-width UTC ISO-8601 text (naive ones are taken as UTC)."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _column(name: str, value: Any) -> Any:
    """A figure as its column holds it: times as UTC text, booleans as 0/1, seqNo lists as JSON text."""
    kind = FIGURE_TYPES[name]
    if kind is str and name.endswith("_at"):
        return utc_iso(value)
    if kind is bool:
        return int(bool(value))
    if kind is tuple:  # gap ranges; a gap of one seqNo as that seqNo, as rows held it before ranges
        if not value:
            return "[]"
        return json.dumps([first if first == last else [first, last] for first, last in value or ()])
    return value


def figure_columns(figures: TransactionFigures | None) -> dict[str, Any]:
    """The figure columns of a row; none before the first report (meter values alone change no total)."""
    return {name: _column(name, getattr(figures, name)) for name in FIGURES} if figures else {}


class TransactionsProjection:
    """Transaction events into ``rm_transactions``: ``apply`` gathers a batch, ``flush`` writes it."""

    name = NAME

    def __init__(self, load: Loader) -> None:
        self.states = TransactionStates(load)
        self._pending = Pending(_Batch)

    def create_tables(self, tx: Tx) -> None:
        tx.execute(f"CREATE TABLE IF NOT EXISTS rm_transactions ({', '.join(f'{n} {t}' for n, t in SCHEMA.items())})")
        # One index per way the history is asked for, each in the list's order (newest first).
        for name, lead in (("time", ""), ("station", "station_id, "), ("user", "user_email, "), ("card", "id_token, ")):
            index = f"rm_transactions_by_{name} ON rm_transactions ({lead}started_at DESC, tx_id)"
            tx.execute(f"CREATE INDEX IF NOT EXISTS {index}")
        tx.execute("CREATE INDEX IF NOT EXISTS rm_transactions_active ON rm_transactions (station_id, status)")

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_transactions")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Events of other aggregates are not the history's business."""

    @apply.register
    def _(self, event: Transaction.Opened, tx: Tx, position: int) -> None:
        self.states.follow(event)
        row = {
            "tx_id": str(event.originator_id),
            "station_id": event.station_id,
            "transaction_id": event.transaction_id,
            "evse_id": event.evse_id,
            "connector_id": event.connector_id,
            **{name: _column(name, value) for name, value in {**_OPENED, "started_at": event.timestamp}.items()},
            "version": event.originator_version,
        }
        self._pending.of(tx).opened.setdefault(row["tx_id"], row)

    @apply.register(Transaction.Reported)
    @apply.register(Transaction.MeterValuesRecorded)
    def _(self, event: Transaction.Reported | Transaction.MeterValuesRecorded, tx: Tx, position: int) -> None:
        # the figure columns are made at the flush, from the transaction's figures after the batch
        self._pending.of(tx).figures[str(event.originator_id)] = self.states.latest(event)
        self._update(tx, event)

    @apply.register
    def _(self, event: Transaction.Attributed, tx: Tx, position: int) -> None:
        self.states.follow(event)
        self._update(
            tx,
            event,
            user_email=event.user,
            id_token=event.id_token,
            attribution=event.attribution,
            authorization_status=event.authorization,
        )

    def _update(self, tx: Tx, event: Transaction.Event, **columns: Any) -> None:
        changes = self._pending.of(tx).changed.setdefault(str(event.originator_id), {})
        changes.update(columns, version=event.originator_version)

    def flush(self, tx: Tx) -> None:
        """Write the batch's rows, the figure columns from each transaction's latest figures."""
        pending = self._pending.take(tx)
        for tx_id, latest in pending.figures.items():
            pending.changed[tx_id].update(figure_columns(latest()))
        write_rows(tx, "rm_transactions", "tx_id", pending.opened, pending.changed)


@dataclass
class _Batch:
    opened: dict[str, dict[str, Any]] = field(default_factory=dict)  # tx_id -> the row as the Opened makes it
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # tx_id -> columns to set, latest values
    figures: dict[str, Callable[[], TransactionFigures | None]] = field(default_factory=dict)  # tx_id -> its latest


@dataclass(frozen=True)
class Visibility:
    """Which transactions a caller may read: every one, or those charged to one of ``users`` and every one on
    the chargers ``stations`` (decided by ``adapters.access``)."""

    everything: bool = False
    users: frozenset[str] = field(default_factory=frozenset)
    stations: frozenset[str] = field(default_factory=frozenset)

    def allows_user(self, user: str | None) -> bool:
        return self.everything or (user is not None and user in self.users)

    def allows(self, row: dict[str, Any]) -> bool:
        """A transaction (a row or a live message: its ``user`` and ``station_id``)."""
        return self.allows_user(row["user"]) or row["station_id"] in self.stations

    def sql(self) -> tuple[str, list[Any]]:
        if self.everything:
            return "1 = 1", []
        clauses, params = [], []
        for column, values in (("user_email", self.users), ("station_id", self.stations)):
            if values:
                clauses.append(f"{column} IN ({', '.join(['%s'] * len(values))})")
                params.extend(sorted(values))
        return (f"({' OR '.join(clauses)})", params) if clauses else ("1 = 0", [])


def present(row: dict[str, Any]) -> dict[str, Any]:
    """A read-model row in the API's shape (field names, booleans, lists)."""
    row = dict(row)
    return {
        "id": row.pop("tx_id"),
        "station_id": row.pop("station_id"),
        "transaction_id": row.pop("transaction_id"),
        "user": row.pop("user_email"),
        "authorization": row.pop("authorization_status"),
        **row,
        "started_seen": bool(row["started_seen"]),
        "missing_seq_nos": _gaps(json.loads(row["missing_seq_nos"])),
    }


def _gaps(stored: list[Any]) -> list[list[int]]:
    """Gap ranges as the API shows them: a gap of one seqNo is held as that seqNo (``_column``)."""
    return [gap if isinstance(gap, list) else [gap, gap] for gap in stored]


class TransactionQueries:
    """Read-only queries over the transactions history (what the app and dashboards call)."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def list_transactions(
        self,
        visibility: Visibility,
        *,
        station_id: str | None = None,
        user: str | None = None,
        id_token: str | None = None,
        status: str | None = None,
        started_from: str | None = None,
        started_before: str | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 50,
    ) -> list[dict[str, Any]]:
        """Newest first, by (started_at desc, id); ``after`` is the (started_at, id) of the last row seen."""
        visible, params = visibility.sql()
        where = [visible]
        for column, op, value in (
            ("station_id", "=", station_id),
            ("user_email", "=", user),
            ("id_token", "=", id_token),
            ("status", "=", status),
            ("started_at", ">=", started_from),
            ("started_at", "<", started_before),
        ):
            if value is not None:
                where.append(f"{column} {op} %s")
                params.append(value)
        if after is not None:
            where.append("(started_at < %s OR (started_at = %s AND tx_id > %s))")
            params.extend((after[0], after[0], after[1]))
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM rm_transactions WHERE {' AND '.join(where)}"
            " ORDER BY started_at DESC, tx_id LIMIT %s",
            (*params, limit),
        )
        return [present(r) for r in rows]

    def get_transaction(self, visibility: Visibility, station_id: str, transaction_id: str) -> dict[str, Any] | None:
        visible, params = visibility.sql()
        rows = self.db.query(
            f"SELECT {COLUMNS} FROM rm_transactions WHERE tx_id = %s AND {visible}",
            (str(Transaction.create_id(station_id, transaction_id)), *params),
        )
        return present(rows[0]) if rows else None

    def active_snapshot(self, station_id: str) -> tuple[int, list[dict[str, Any]]]:
        """The charger's active transactions and the read model's position, read in one statement."""
        columns = ", ".join(f"t.{c.strip()}" for c in COLUMNS.split(","))
        rows = self.db.query(
            f"SELECT k.position AS tracked_position, {columns} FROM rm_tracking k LEFT JOIN rm_transactions t"
            " ON t.station_id = %s AND t.status = 'active' WHERE k.projection = %s ORDER BY t.started_at, t.tx_id",
            (station_id, NAME),
        )
        position = int(rows[0]["tracked_position"]) if rows else 0
        return position, [present({k: v for k, v in r.items() if k != "tracked_position"}) for r in rows if r["tx_id"]]

    def by_ids(self, tx_ids: set[str]) -> dict[str, dict[str, Any]]:
        if not tx_ids:
            return {}
        marks = ", ".join(["%s"] * len(tx_ids))
        rows = self.db.query(f"SELECT {COLUMNS} FROM rm_transactions WHERE tx_id IN ({marks})", sorted(tx_ids))
        return {r["tx_id"]: present(r) for r in rows}

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the read model, in a stable order (to compare live with rebuilt)."""
        return {"transactions": self.db.query(f"SELECT {COLUMNS} FROM rm_transactions ORDER BY tx_id")}
