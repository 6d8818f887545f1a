"""Replay rate: how fast ``cloudbay replay`` rebuilds every read model from an event log of ``--events`` events.

A fresh store (a new PostgreSQL database, dropped afterwards, or a SQLite file) is filled directly through the
domain: ``--stations`` whitelisted chargers, each running transactions of one Started, ``--samples`` Updated
and one Ended TransactionEvent (parsed from OCPP payloads as the node parses them, energy and power samples),
attributed to the default account, many transactions per save. Then ``cloudbay replay --json`` runs as an
operator runs it, timed from start to exit; with ``--in-process``, the same rebuild is timed again inside this
process, without the interpreter's start-up. Printed: events in the log, seconds, events/s (log positions
rebuilt per second, target >= 50,000 on PostgreSQL) and what each projection applied.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from rich.console import Console
from serving import child_env, fresh_store

from adapters import gc_tuning
from adapters.cli.rebuild import rebuild_all, replay_progress
from adapters.ocpp.messages import transaction_report
from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.charger import Charger
from cloudbay_domain.transaction import Attribution, Transaction
from projections.db import ReadModelDB

ENERGY, POWER = "Energy.Active.Import.Register", "Power.Active.Import"
PER_SAVE = 100  # transactions per save


def payload(tx_id: str, seq: int, last: int, at: datetime, register: float) -> dict[str, Any]:
    """One TransactionEvent's payload as the node receives it (snake_case keys)."""
    kind = "Started" if seq == 0 else "Ended" if seq == last else "Updated"
    stamp = at.isoformat().replace("+00:00", "Z")
    samples = [
        {"value": register, "measurand": ENERGY, "unit_of_measure": {"unit": "Wh"}},
        {"value": 0.0 if kind == "Ended" else 11000.0, "measurand": POWER, "unit_of_measure": {"unit": "W"}},
    ]
    info = {"transaction_id": tx_id, "charging_state": "Idle" if kind == "Ended" else "Charging"}
    return {
        "event_type": kind,
        "timestamp": stamp,
        "trigger_reason": {"Started": "CablePluggedIn", "Ended": "EVCommunicationLost"}.get(kind, "MeterValuePeriodic"),
        "seq_no": seq,
        "transaction_info": info | ({"stopped_reason": "EVDisconnected"} if kind == "Ended" else {}),
        "meter_value": [{"timestamp": stamp, "sampled_value": samples}],
        "evse": {"id": 1, "connector_id": 1},
    }


def transaction(station: str, n: int, samples: int, start: datetime) -> Transaction:
    tx = Transaction.open(station, f"TX{n:07d}", 1, 1)
    for seq in range(samples + 2):
        tx.report(
            transaction_report(
                **payload(tx.transaction_id, seq, samples + 1, start + timedelta(minutes=seq), 250.0 * seq)
            )
        )
        if seq == 0:
            tx.attribute(None, None, Attribution.DEFAULT_ACCOUNT.value, "Accepted")
    return tx


def fill(url: str, data: Path, args: argparse.Namespace) -> int:
    """Write about ``args.events`` events; the head position of the log afterwards."""
    log = build_log(Settings(store=StoreSettings(url), data_dir=data))
    try:
        stations = [f"REPLAY-{i:04d}" for i in range(1, args.stations + 1)]
        log.save(*(Charger.whitelist(s, "bench") for s in stations))
        per_tx = args.samples + 4  # Opened, Attributed, Started, Updated..., Ended
        total = (args.events - len(stations)) // per_tx
        start = datetime(2026, 1, 1, tzinfo=UTC)
        for first in range(0, total, PER_SAVE):
            batch = range(first, min(total, first + PER_SAVE))
            log.save(
                *(transaction(stations[n % len(stations)], n, args.samples, start + timedelta(hours=n)) for n in batch)
            )
        return log.recorder.max_notification_id() or 0
    finally:
        log.close()


def settle(url: str) -> None:
    """The log as a production one is when rebuilt: vacuumed and analysed (else the autovacuum that a fresh
    100,000-row table sets off runs during the first replay, and the planner has no statistics)."""
    if url.startswith("postgresql"):
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE cloudbay_events")


def cli_replay(url: str, data: Path) -> tuple[float, dict[str, Any]]:
    env = child_env(CLOUDBAY_DATABASE_URL=url, CLOUDBAY_DATA_DIR=str(data))
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "adapters.cli.main", "replay", "--json"], env=env, capture_output=True, timeout=1800
    )
    seconds = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"cloudbay replay failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return seconds, json.loads(done.stdout)


def in_process_replay(url: str, data: Path, head: int) -> float:
    settings = Settings(store=StoreSettings(url), data_dir=data)
    gc_tuning.tune()  # as the command does
    log, db = build_log(settings), ReadModelDB(settings.store)
    try:
        t0 = time.perf_counter()
        with replay_progress(Console(stderr=True), disable=True) as progress:
            rebuild_all(log, db, head, progress)
        return time.perf_counter() - t0
    finally:
        db.close()
        log.close()


def bench(store: str, args: argparse.Namespace) -> None:
    with fresh_store(store, f"replay/{store}") as (url, data):
        t0 = time.perf_counter()
        head = fill(url, data, args)
        settle(url)
        print(f"[{store}] {head} events written in {time.perf_counter() - t0:.1f} s; replaying ...", flush=True)
        seconds, summary = cli_replay(url, data)
        inside = in_process_replay(url, data, head) if args.in_process else None
    print(f"\n=== cloudbay replay on {store}: {head} events, {os.cpu_count()} cores ===")
    target = " (target >= 50,000 on PostgreSQL)" if store == "postgres" else ""
    print(f"cloudbay replay (the command, start to exit): {seconds:.1f} s = {head / seconds:,.0f} events/s{target}")
    if inside is not None:
        print(f"the rebuild alone (in this process)         : {inside:.1f} s = {head / inside:,.0f} events/s")
    for name, figures in summary["projections"].items():
        print(f"  {name:<24} applied {figures['events']:>8} events, position {figures['position']}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--events", type=int, default=100_000, help="size of the event log (about)")
    p.add_argument("--stations", type=int, default=100)
    p.add_argument("--samples", type=int, default=5, help="TransactionEvent Updated per transaction")
    p.add_argument("--store", choices=["postgres", "sqlite", "both"], default="postgres")
    p.add_argument("--in-process", action="store_true", help="also time the rebuild without the command's start-up")
    args = p.parse_args()
    for store in ["postgres", "sqlite"] if args.store == "both" else [args.store]:
        bench(store, args)
    print("NOTE: PostgreSQL and this machine are shared; figures are indicative.")


if __name__ == "__main__":
    main()
