"""Energy aggregates: energy and transaction counts per charger, per user, per day.

Each transaction contributes its energy and a count of one to exactly one bucket of ``rm_energy_daily``:
(its charger, the user it is charged to, the UTC date of its ``started_at``). A session that runs over
midnight is counted whole on the day it started (a day's figure never changes once its sessions have
ended, and a session is never split by a clock the charger does not share with us). ``user_key`` is
``''`` while a transaction is unattributed.

``rm_energy_tx`` keeps each transaction's current contribution. When a transaction's energy changes, the
delta (new - previous) is added to its bucket; when its bucket changes (attributed later, or a late
Started message moves ``started_at`` to another day) its whole contribution moves from the old bucket
to the new one. A transaction counts from its first figures on: ``started_at`` and ``energy_wh`` of the
domain's ``transaction_figures``, computed after each event from the transaction's state (``TransactionStates``;
events carry facts only). Energy is kept in integer milliwatt-hours (``energy_mwh``, rounded once per figure),
so deltas add exactly: a bucket is the same whatever the order of the updates that built it, and a rebuild
gives the same numbers to the last digit. Months are sums of days (``substr(day, 1, 7)``).

Each transaction's cost goes to the same bucket as its energy, priced from its new register readings only
(``projections.energy_cost``: the tariffs followed, the last priced reading kept per transaction).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.pricing import ChargerTariff
from cloudbay_domain.running_figures import RunningFigures
from cloudbay_domain.transaction import Transaction
from projections.batch import Pending
from projections.db import ReadModelDB, Tx
from projections.energy_cost import (
    COST_COLUMNS,
    CostBuckets,
    Priced,
    costs_per_period,
    create_cost_tables,
    drop_cost_tables,
    tariff_histories,
    tariff_row,
    with_cost,
    write_tariffs,
)
from projections.transaction_states import Loader, TransactionStates

PERIODS = {"day": "day", "month": "substr(day, 1, 7)"}
ROW_COLUMNS = ("tx_id", "station_id", "user_key", "day", "energy_mwh", *COST_COLUMNS)
ID_PAGE = 500  # ids per query when a batch reads the stored contributions


def mwh(energy_wh: float) -> int:
    return round(energy_wh * 1000)


def utc_day(started_at: str) -> str:
    moment = datetime.fromisoformat(started_at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


class EnergyProjection:
    """Handles the Transaction events into ``rm_energy_tx`` (per transaction) and ``rm_energy_daily``;
    ``load`` reads a transaction at a version. ``apply`` gathers a batch's changes, ``flush`` writes them."""

    name = "energy"

    def __init__(self, load: Loader) -> None:
        self.states = TransactionStates(load)
        self._pending = Pending(_Batch)

    def create_tables(self, tx: Tx) -> None:
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_energy_tx (tx_id TEXT PRIMARY KEY, station_id TEXT NOT NULL,"
            " user_key TEXT NOT NULL, day TEXT, energy_mwh BIGINT NOT NULL)"
        )
        tx.execute(
            "CREATE TABLE IF NOT EXISTS rm_energy_daily (station_id TEXT NOT NULL, user_key TEXT NOT NULL,"
            " day TEXT NOT NULL, energy_mwh BIGINT NOT NULL, transactions INTEGER NOT NULL,"
            " PRIMARY KEY (station_id, user_key, day))"
        )
        tx.execute("CREATE INDEX IF NOT EXISTS rm_energy_daily_by_user ON rm_energy_daily (user_key, day)")
        create_cost_tables(tx)

    def drop_tables(self, tx: Tx) -> None:
        drop_cost_tables(tx)
        tx.execute("DROP TABLE IF EXISTS rm_energy_daily")
        tx.execute("DROP TABLE IF EXISTS rm_energy_tx")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Only transactions carry energy."""

    @apply.register
    def _(self, event: Transaction.Opened, tx: Tx, position: int) -> None:
        self.states.follow(event)
        self._pending.of(tx).opened.setdefault(str(event.originator_id), event.station_id)

    @apply.register(Transaction.Reported)
    @apply.register(Transaction.MeterValuesRecorded)
    def _(self, event: Transaction.Reported | Transaction.MeterValuesRecorded, tx: Tx, position: int) -> None:
        batch = self._pending.of(tx)
        batch.figures[str(event.originator_id)] = (self.states.running(event), event.timestamp)  # read at the flush

    @apply.register
    def _(self, event: ChargerTariff.TariffSet, tx: Tx, position: int) -> None:
        self._pending.of(tx).tariffs.append(tariff_row(event))

    @apply.register
    def _(self, event: Transaction.Attributed, tx: Tx, position: int) -> None:
        self.states.follow(event)
        self._move(tx, event, user_key=event.user or "")

    def _move(self, tx: Tx, event: Transaction.Event, **changes: Any) -> None:
        self._pending.of(tx).changed.setdefault(str(event.originator_id), {}).update(changes)

    def flush(self, tx: Tx) -> None:
        """Write the batch: each transaction's contribution moves once, from what the table holds to where the
        batch's last event puts it (the moves of the events in between add up to that one move)."""
        pending = self._pending.take(tx)
        write_tariffs(tx, pending.tariffs)
        for tx_id, (running, _) in pending.figures.items():
            figures = running.figures()
            if figures:
                pending.changed.setdefault(tx_id, {}).update(
                    day=utc_day(figures.started_at), energy_mwh=mwh(figures.energy_wh)
                )
        touched = sorted(pending.opened.keys() | pending.changed.keys())
        stored = _energy_rows(tx, touched)
        old_rows = {tx_id: self._old(tx_id, stored, pending) for tx_id in touched}
        histories = tariff_histories(tx, {old_rows[tx_id]["station_id"] for tx_id in pending.figures})
        rows, buckets, costs = [], _Buckets(), CostBuckets()
        for tx_id in touched:
            old = old_rows[tx_id]
            new = {**old, **pending.changed.get(tx_id, {})}
            if tx_id in pending.figures:
                running, recorded_at = pending.figures[tx_id]
                history = histories[old["station_id"]].known_at(recorded_at)
                new.update(Priced.of(old).advanced(running.register_readings, history).columns())
            if tx_id in stored and old == new:
                continue
            rows.append((tx_id, *(new[column] for column in ROW_COLUMNS[1:])))
            costs.move(old, new)
            old_key, new_key = (old["user_key"], old["day"]), (new["user_key"], new["day"])
            if old_key == new_key:
                buckets.add(old["station_id"], old_key, new["energy_mwh"] - old["energy_mwh"], 0)
            else:
                buckets.add(old["station_id"], old_key, -old["energy_mwh"], -1)
                buckets.add(new["station_id"], new_key, new["energy_mwh"], 1)
        updated = ", ".join(f"{column} = excluded.{column}" for column in ROW_COLUMNS[2:])
        tx.insert_rows("rm_energy_tx", ROW_COLUMNS, rows, f"ON CONFLICT (tx_id) DO UPDATE SET {updated}")
        buckets.write(tx)
        costs.write(tx)

    @staticmethod
    def _old(tx_id: str, stored: dict[str, dict[str, Any]], pending: _Batch) -> dict[str, Any]:
        """The transaction's stored row, or that of a transaction opened in the batch."""
        old = stored.get(tx_id)
        if old is not None:
            return old
        if tx_id not in pending.opened:
            raise LookupError(f"no energy row for transaction {tx_id}")
        return {"station_id": pending.opened[tx_id], "user_key": "", "day": None, "energy_mwh": 0, **Priced().columns()}


@dataclass
class _Batch:
    opened: dict[str, str] = field(default_factory=dict)  # tx_id -> station, of the transactions opened
    changed: dict[str, dict[str, Any]] = field(default_factory=dict)  # tx_id -> its columns' latest values
    figures: dict[str, tuple[RunningFigures, datetime]] = field(default_factory=dict)  # tx_id -> latest, when
    tariffs: list[tuple[str, str, str]] = field(default_factory=list)  # the tariffs set, in order


def _energy_rows(tx: Tx, tx_ids: list[str]) -> dict[str, dict[str, Any]]:
    """The stored contributions of ``tx_ids`` (a query per page of ids)."""
    found: dict[str, dict[str, Any]] = {}
    for first in range(0, len(tx_ids), ID_PAGE):
        page = tx_ids[first : first + ID_PAGE]
        where, params = tx.one_of("tx_id", page)
        for row in tx.fetchall(f"SELECT {', '.join(ROW_COLUMNS)} FROM rm_energy_tx WHERE {where}", params):
            found[row.pop("tx_id")] = row
    return found


class _Buckets:
    """The changes to ``rm_energy_daily`` of a batch, summed per bucket (exact: integers)."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[str, str, str], list[int]] = {}
        self.emptied: set[tuple[str, str, str]] = set()  # buckets a transaction left

    def add(self, station_id: str, key: tuple[str, str | None], energy_mwh: int, transactions: int) -> None:
        user_key, day = key
        if day is None:  # no figures yet: the transaction counts nowhere
            return
        delta = self.deltas.setdefault((station_id, user_key, day), [0, 0])
        delta[0] += energy_mwh
        delta[1] += transactions
        if transactions < 0:
            self.emptied.add((station_id, user_key, day))

    def write(self, tx: Tx) -> None:
        tx.insert_rows(
            "rm_energy_daily",
            ("station_id", "user_key", "day", "energy_mwh", "transactions"),
            [(*bucket, energy, count) for bucket, (energy, count) in self.deltas.items() if energy or count],
            "ON CONFLICT (station_id, user_key, day) DO UPDATE SET"
            " energy_mwh = rm_energy_daily.energy_mwh + excluded.energy_mwh,"
            " transactions = rm_energy_daily.transactions + excluded.transactions",
        )
        # an emptied bucket goes, as if it had never been (a rebuild would not make it)
        tx.executemany(
            "DELETE FROM rm_energy_daily WHERE station_id = %s AND user_key = %s AND day = %s AND transactions = 0",
            sorted(self.emptied),
        )


class EnergyQueries:
    """Energy per period (``day`` or ``month``) for a charger or a user, over an inclusive range of days."""

    def __init__(self, db: ReadModelDB) -> None:
        self.db = db

    def for_charger(self, station_id: str, period: str, first: date | None, last: date | None) -> list[dict[str, Any]]:
        return self._totals("station_id", station_id, period, first, last)

    def for_user(self, user: str, period: str, first: date | None, last: date | None) -> list[dict[str, Any]]:
        return self._totals("user_key", user, period, first, last)

    def _totals(
        self, column: str, value: str, period: str, first: date | None, last: date | None
    ) -> list[dict[str, Any]]:
        bucket = PERIODS[period]
        where, params = [f"{column} = %s"], [value]
        if first is not None:
            where.append("day >= %s")
            params.append(first.isoformat())
        if last is not None:
            where.append("day <= %s")
            params.append(last.isoformat())
        rows = self.db.query(
            f"SELECT {bucket} AS period, CAST(SUM(energy_mwh) AS BIGINT) AS energy_mwh,"
            f" CAST(SUM(transactions) AS BIGINT) AS transactions FROM rm_energy_daily"
            f" WHERE {' AND '.join(where)} GROUP BY {bucket} ORDER BY {bucket}",
            params,
        )
        costs = costs_per_period(
            self.db.query(
                f"SELECT {bucket} AS period, currency, CAST(SUM(cost_nanos) AS BIGINT) AS cost_nanos"
                f" FROM rm_energy_cost_daily WHERE {' AND '.join(where)} GROUP BY {bucket}, currency"
                f" ORDER BY {bucket}, currency",
                params,
            )
        )
        return [
            with_cost(
                {
                    "period": r["period"],
                    "energy_wh": int(r["energy_mwh"]) / 1000,
                    "transactions": int(r["transactions"]),
                },
                costs.get(r["period"], {}),
            )
            for r in rows
        ]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the read model, in a stable order (to compare live with rebuilt)."""
        return {
            "energy_tx": self.db.query("SELECT * FROM rm_energy_tx ORDER BY tx_id"),
            "energy_daily": self.db.query("SELECT * FROM rm_energy_daily ORDER BY station_id, user_key, day"),
            "energy_cost_daily": self.db.query(
                "SELECT * FROM rm_energy_cost_daily ORDER BY station_id, user_key, day, currency"
            ),
            "energy_tariffs": self.db.query("SELECT * FROM rm_energy_tariffs ORDER BY tariff_id, since"),
        }
