"""Benchmark: import one production batch of N devices (default 10,000) on SQLite and on PostgreSQL.

Each store is fresh (a temporary data dir; a PostgreSQL database made and dropped here). The import is the one
`cloudbay batches import` and `POST /api/v1/production-batches` run: the codes derived and hashed (argon2id, in
threads), then one save of every charger, device, the batch and the MAC pool. Printed: the seconds spent
hashing and saving, and devices imported per second; then how long the read models take to catch up.

    PYTHONPATH=src python3 benchmarks/batch_import.py [--devices 10000] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from fresh_store import fresh_store

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log, build_manufacturing
from cloudbay_domain.batch import BatchSpec
from projections.catalog import all_projections
from projections.db import ReadModelDB
from projections.follower import catch_up, prepare


def run(url: str, data_dir: Path, devices: int) -> dict[str, float]:
    settings = Settings(store=StoreSettings(url), data_dir=data_dir, mac_block="02:00:00:00:00:00/24")
    log = build_log(settings)
    batches, _ = build_manufacturing(settings, log)
    spec = BatchSpec.of("BENCH", "home-22kw", "CB-Home-22", [{"serial_number": f"B-{n:07d}"} for n in range(devices)])
    hashed_at: list[float] = []
    started = time.perf_counter()
    imported = batches.import_batch(spec, "benchmark", progress=lambda done, _: hashed_at.append(time.perf_counter()))
    total = time.perf_counter() - started
    assert imported.created and len(imported.batch.devices) == devices
    db = ReadModelDB(settings.store)
    projected = time.perf_counter()
    for projection in all_projections(log):
        prepare(db, projection)
        while catch_up(log, db, projection):
            pass
    projection_s = time.perf_counter() - projected
    db.close()
    log.close()
    hashing = hashed_at[-1] - started
    return {"total_s": total, "hashing_s": hashing, "saving_s": total - hashing, "read_models_s": projection_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    for store in args.stores.split(","):
        with fresh_store(store) as (url, tmp):
            figures = run(url, tmp / "data", args.devices)
        print(
            f"{store:>8}: {args.devices} devices in {figures['total_s']:.1f} s"
            f" ({args.devices / figures['total_s']:.0f} devices/s; hashing {figures['hashing_s']:.1f} s,"
            f" saving {figures['saving_s']:.1f} s); read models caught up in {figures['read_models_s']:.1f} s"
        )


if __name__ == "__main__":
    main()
