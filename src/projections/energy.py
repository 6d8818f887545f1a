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
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import singledispatchmethod
from typing import Any

from cloudbay_domain.transaction import Transaction
from projections.db import ReadModelDB, Tx
from projections.transaction_states import Loader, TransactionStates

PERIODS = {"day": "day", "month": "substr(day, 1, 7)"}


def mwh(energy_wh: float) -> int:
    return round(energy_wh * 1000)


def utc_day(started_at: str) -> str:
    moment = datetime.fromisoformat(started_at)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC).date().isoformat()


class EnergyProjection:
    """Handles the Transaction events into ``rm_energy_tx`` (per transaction) and ``rm_energy_daily``;
    ``load`` reads a transaction at a version."""

    name = "energy"

    def __init__(self, load: Loader) -> None:
        self.states = TransactionStates(load)

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

    def drop_tables(self, tx: Tx) -> None:
        tx.execute("DROP TABLE IF EXISTS rm_energy_daily")
        tx.execute("DROP TABLE IF EXISTS rm_energy_tx")

    @singledispatchmethod
    def apply(self, event: Any, tx: Tx, position: int) -> None:
        """Only transactions carry energy."""

    @apply.register
    def _(self, event: Transaction.Opened, tx: Tx, position: int) -> None:
        self.states.advance(event)
        tx.execute(
            "INSERT INTO rm_energy_tx (tx_id, station_id, user_key, day, energy_mwh) VALUES (%s, %s, '', NULL, 0)"
            " ON CONFLICT (tx_id) DO NOTHING",
            (str(event.originator_id), event.station_id),
        )

    @apply.register(Transaction.Reported)
    @apply.register(Transaction.MeterValuesRecorded)
    def _(self, event: Transaction.Reported | Transaction.MeterValuesRecorded, tx: Tx, position: int) -> None:
        figures = self.states.figures(event)
        if figures:
            self._move(tx, event, day=utc_day(figures.started_at), energy_mwh=mwh(figures.energy_wh))

    @apply.register
    def _(self, event: Transaction.Attributed, tx: Tx, position: int) -> None:
        self.states.advance(event)
        self._move(tx, event, user_key=event.user or "")

    def _move(self, tx: Tx, event: Transaction.Event, **changes: Any) -> None:
        """Change the transaction's contribution: take the old one from its bucket, add the new one."""
        tx_id = str(event.originator_id)
        rows = tx.fetchall("SELECT station_id, user_key, day, energy_mwh FROM rm_energy_tx WHERE tx_id = %s", (tx_id,))
        old = rows[0]
        new = {**old, **changes}
        if old == new:
            return
        old_key, new_key = (old["user_key"], old["day"]), (new["user_key"], new["day"])
        if old_key == new_key:
            self._add(tx, old["station_id"], old_key, new["energy_mwh"] - old["energy_mwh"], 0)
        else:
            if old["day"] is not None:
                self._add(tx, old["station_id"], old_key, -old["energy_mwh"], -1)
            self._add(tx, new["station_id"], new_key, new["energy_mwh"], 1)
        tx.execute(
            "UPDATE rm_energy_tx SET user_key = %s, day = %s, energy_mwh = %s WHERE tx_id = %s",
            (new["user_key"], new["day"], new["energy_mwh"], tx_id),
        )

    def _add(self, tx: Tx, station_id: str, key: tuple[str, str | None], energy_mwh: int, transactions: int) -> None:
        user_key, day = key
        if day is None:  # no figures yet: the transaction counts nowhere
            return
        tx.execute(
            "INSERT INTO rm_energy_daily (station_id, user_key, day, energy_mwh, transactions)"
            " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (station_id, user_key, day) DO UPDATE SET"
            " energy_mwh = rm_energy_daily.energy_mwh + excluded.energy_mwh,"
            " transactions = rm_energy_daily.transactions + excluded.transactions",
            (station_id, user_key, day, energy_mwh, transactions),
        )
        if transactions < 0:  # an emptied bucket goes, as if it had never been (a rebuild would not make it)
            tx.execute(
                "DELETE FROM rm_energy_daily WHERE station_id = %s AND user_key = %s AND day = %s AND transactions = 0",
                (station_id, user_key, day),
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
        return [
            {"period": r["period"], "energy_wh": int(r["energy_mwh"]) / 1000, "transactions": int(r["transactions"])}
            for r in rows
        ]

    def dump(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the read model, in a stable order (to compare live with rebuilt)."""
        return {
            "energy_tx": self.db.query("SELECT * FROM rm_energy_tx ORDER BY tx_id"),
            "energy_daily": self.db.query("SELECT * FROM rm_energy_daily ORDER BY station_id, user_key, day"),
        }
