"""The cost side of the energy read model: what each transaction cost, summed per bucket like its energy.

A transaction's cost goes to the bucket its energy goes to (its charger, its user, the UTC day it started), in
the currency of its charger's tariff: ``rm_energy_cost_daily`` holds, per bucket and currency, the sum of the
costs (integer billionths, ``cost_nanos``: sums are exact and the same in any order) and the count of priced
transactions in it. Buckets without any priced transaction have no row: their cost is null.

Pricing follows what was known when the readings were recorded, never more: the projection follows the
``ChargerTariff.TariffSet`` events into ``rm_energy_tariffs`` (each tariff with the time it was set) and prices
a transaction's readings with the tariffs set at or before the recording time of its latest event in the batch
(``TariffHistory.known_at``), each piece at the tariff in force at its start. A tariff set later never reprices
an interval already charged: it is in force only from when it was set, and what was priced stays priced.

Work per event is in proportion to its new readings: ``rm_energy_tx`` keeps, per transaction, its cost so far,
its currency and its last priced register reading (time, value and how many readings up to it); a batch prices
only the reading pairs from that reading on (``readings_cost_nanos`` is a sum over pairs). A reading that
arrives late, before the last priced one (or a change of the register series that moves it: a new location,
another phase family), or a change of the tariff's currency, prices the whole transaction again, once. Not
detected: an earlier reading whose value changes in place (a larger duplicate of one phase at the same time);
its pair keeps the price it had until a replay. A tariff
that follows a price series is priced at its fixed prices here (the series is not followed by this read model).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from cloudbay_domain.charging_cost import NANOS, Reading, TariffHistory, readings_cost_nanos
from cloudbay_domain.pricing import ChargerTariff
from cloudbay_domain.quotes import money
from cloudbay_domain.tariff import Tariff
from projections.db import Tx, add_missing_columns

COST_COLUMNS = {
    "currency": "TEXT",
    "cost_nanos": "BIGINT NOT NULL DEFAULT 0",
    "priced_at": "TEXT",
    "priced_wh": "DOUBLE PRECISION",
    "priced_count": "INTEGER NOT NULL DEFAULT 0",
}
ID_PAGE = 500


def create_cost_tables(tx: Tx) -> None:
    add_missing_columns(tx, "rm_energy_tx", COST_COLUMNS)
    tx.execute(
        "CREATE TABLE IF NOT EXISTS rm_energy_tariffs (tariff_id TEXT NOT NULL, since TEXT NOT NULL,"
        " tariff TEXT NOT NULL, PRIMARY KEY (tariff_id, since))"
    )
    tx.execute(
        "CREATE TABLE IF NOT EXISTS rm_energy_cost_daily (station_id TEXT NOT NULL, user_key TEXT NOT NULL,"
        " day TEXT NOT NULL, currency TEXT NOT NULL, cost_nanos BIGINT NOT NULL, transactions INTEGER NOT NULL,"
        " PRIMARY KEY (station_id, user_key, day, currency))"
    )
    tx.execute("CREATE INDEX IF NOT EXISTS rm_energy_cost_by_user ON rm_energy_cost_daily (user_key, day)")


def drop_cost_tables(tx: Tx) -> None:
    tx.execute("DROP TABLE IF EXISTS rm_energy_cost_daily")
    tx.execute("DROP TABLE IF EXISTS rm_energy_tariffs")


def tariff_row(event: ChargerTariff.TariffSet) -> tuple[str, str, str]:
    return str(event.originator_id), event.timestamp.isoformat(), json.dumps(event.tariff, sort_keys=True)


def write_tariffs(tx: Tx, rows: list[tuple[str, str, str]]) -> None:
    tx.executemany(
        "INSERT INTO rm_energy_tariffs (tariff_id, since, tariff) VALUES (%s, %s, %s)"
        " ON CONFLICT (tariff_id, since) DO NOTHING",
        rows,
    )


@functools.lru_cache(maxsize=65_536)
def _tariff_id(station_id: str) -> str:
    """The id of a charger's tariff aggregate (a name-based UUID: a hash, asked for every charger of a batch)."""
    return str(ChargerTariff.create_id(station_id))


def tariff_histories(tx: Tx, station_ids: set[str]) -> dict[str, TariffHistory]:
    """Each charger's tariffs as the read model knows them (a query per page of chargers)."""
    by_id = {_tariff_id(station_id): station_id for station_id in station_ids}
    entries: dict[str, list[tuple[datetime, Tariff]]] = {station_id: [] for station_id in station_ids}
    ids = sorted(by_id)
    for first in range(0, len(ids), ID_PAGE):
        page = ids[first : first + ID_PAGE]
        where, params = tx.one_of("tariff_id", page)
        for row in tx.fetchall(f"SELECT tariff_id, since, tariff FROM rm_energy_tariffs WHERE {where}", params):
            parsed = (datetime.fromisoformat(row["since"]), Tariff.parse(json.loads(row["tariff"])))
            entries[by_id[row["tariff_id"]]].append(parsed)
    return {station_id: TariffHistory(sorted(found, key=lambda e: e[0])) for station_id, found in entries.items()}


@dataclass(frozen=True)
class Priced:
    """A transaction's cost so far and the last register reading priced (``count``: readings up to it)."""

    currency: str | None = None
    cost_nanos: int = 0
    at: str | None = None
    wh: float | None = None
    count: int = 0

    @classmethod
    def of(cls, row: dict[str, Any]) -> Priced:
        count = int(row.get("priced_count") or 0)
        wh = row.get("priced_wh")
        return cls(row.get("currency"), int(row.get("cost_nanos") or 0), row.get("priced_at"), wh, count)

    def columns(self) -> dict[str, Any]:
        return {
            "currency": self.currency,
            "cost_nanos": self.cost_nanos,
            "priced_at": self.at,
            "priced_wh": self.wh,
            "priced_count": self.count,
        }

    def advanced(self, readings: list[Reading], history: TariffHistory) -> Priced:
        """Priced up to the last of ``readings`` (sorted): only the pairs after the last priced reading, unless
        that reading is no longer where it was (a late reading before it) or the currency changed."""
        currency = history.currency
        if currency is None or not readings:
            return self
        n = self.count
        kept = (
            0 < n <= len(readings)
            and self.currency == currency
            and readings[n - 1][0].isoformat() == self.at
            and readings[n - 1][1] == self.wh
        )
        cost = self.cost_nanos + readings_cost_nanos(readings[n - 1 :], history) if kept else None
        if cost is None:
            cost = readings_cost_nanos(readings, history)
        last_at, last_wh = readings[-1]
        return Priced(currency, cost, last_at.isoformat(), last_wh, len(readings))


class CostBuckets:
    """The changes to ``rm_energy_cost_daily`` of a batch, summed per bucket and currency (exact: integers)."""

    def __init__(self) -> None:
        self.deltas: dict[tuple[str, str, str, str], list[int]] = {}
        self.emptied: set[tuple[str, str, str, str]] = set()

    def move(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        """A transaction's cost moves from its ``old`` row's bucket to its ``new`` one's (or changes in place)."""
        old_key, new_key = _key(old), _key(new)
        if old_key == new_key:
            self._add(old_key, int(new["cost_nanos"] or 0) - int(old["cost_nanos"] or 0), 0)
        else:
            self._add(old_key, -int(old["cost_nanos"] or 0), -1)
            self._add(new_key, int(new["cost_nanos"] or 0), 1)

    def _add(self, key: tuple[str, str, str | None, str | None], cost: int, transactions: int) -> None:
        station_id, user_key, day, currency = key
        if day is None or currency is None:  # no figures yet, or nothing priced: no cost anywhere
            return
        bucket = (station_id, user_key, day, currency)
        delta = self.deltas.setdefault(bucket, [0, 0])
        delta[0] += cost
        delta[1] += transactions
        if transactions < 0:
            self.emptied.add(bucket)

    def write(self, tx: Tx) -> None:
        tx.insert_rows(
            "rm_energy_cost_daily",
            ("station_id", "user_key", "day", "currency", "cost_nanos", "transactions"),
            [(*bucket, cost, count) for bucket, (cost, count) in self.deltas.items() if cost or count],
            "ON CONFLICT (station_id, user_key, day, currency) DO UPDATE SET"
            " cost_nanos = rm_energy_cost_daily.cost_nanos + excluded.cost_nanos,"
            " transactions = rm_energy_cost_daily.transactions + excluded.transactions",
        )
        tx.executemany(
            "DELETE FROM rm_energy_cost_daily WHERE station_id = %s AND user_key = %s AND day = %s AND currency = %s"
            " AND transactions = 0",
            sorted(self.emptied),
        )


def _key(row: dict[str, Any]) -> tuple[str, str, str | None, str | None]:
    return row["station_id"], row["user_key"], row["day"], row.get("currency")


def costs_per_period(rows: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """period -> {currency: amount as a decimal string}, from rows of (period, currency, cost_nanos)."""
    out: dict[str, dict[str, str]] = {}
    for row in rows:
        out.setdefault(row["period"], {})[row["currency"]] = str(money(Fraction(int(row["cost_nanos"]), NANOS)))
    return out


def with_cost(item: dict[str, Any], costs: dict[str, str]) -> dict[str, Any]:
    """An energy item with ``cost`` and ``currency`` (null without a priced transaction, or with several
    currencies in the period: ``costs`` has each)."""
    single = next(iter(costs.items())) if len(costs) == 1 else (None, None)
    return {**item, "cost": single[1], "currency": single[0], "costs": costs}
