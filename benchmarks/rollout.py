"""Benchmark: one firmware rollout campaign over N chargers (default 20,000; ``--chargers 1000000`` for the
full size), on SQLite and on PostgreSQL, each store fresh.

1. Plan: ``Rollouts.create`` over N targets (the stable hash puts each in one of four groups: 1 %, 10 %, 50 %,
   100 %), one ``FirmwareUpdate.Enlisted`` per charger and one ``RolloutCampaign.Planned``; timed.
2. Feed: the campaign started with every group open, ``--threads`` threads take the chargers in turn through
   the application as fast as the store allows: the UpdateFirmware reservation (``FirmwareUpdate.Requested``),
   the four FirmwareStatusNotifications Downloading, Downloaded, Installing, Installed, and the BootNotification
   with the new version (``Rollouts.record_status``, ``record_boot``). Printed: status updates per second
   (each of these six is one).
3. The progress read model (``projections/rollouts.py``) follows in its own thread meanwhile, as a node keeps
   it: printed are its largest lag behind the log during the feed (events and seconds), how long it took to
   catch up after the last write, the time to serve the campaign's progress, and the process's resident memory
   before and after (the read model keeps its counts in its database, not in memory).
The machine's core count is printed first: the feed shares them with the store (PostgreSQL runs here too).

    PYTHONPATH=src python3 benchmarks/rollout.py [--chargers 20000] [--feed N] [--threads 32] [--stores sqlite,postgres]

``--feed N`` takes only the first N chargers through their update (planning a million, feeding fewer).
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from uuid import UUID

from fresh_store import fresh_store
from procstat import rss_mib

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from cloudbay_domain.firmware_update import Outcome
from cloudbay_domain.rollout_policy import Image, RolloutPolicy
from projections.db import ReadModelDB
from projections.follower import Follower
from projections.rollout_queries import RolloutQueries
from projections.rollouts import RolloutsProjection
from services.ports import NoLink
from services.rollout_dispatch import RolloutDispatcher
from services.rollouts import Rollouts, Target
from services.store import EventLog

IMAGE = Image("2.0.0", "https://firmware.example.com/bench/2.0.0.bin", minimum_version="1.0.0")
ZONES = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", "UTC")
STATUSES = ("Downloading", "Downloaded", "Installing", "Installed")


class Synthetic:
    """N chargers of one family and channel, made up as they are asked for (no fleet to read)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def targets(self, family: str, channel: str, filter: dict[str, Any]) -> Iterator[Target]:
        for n in range(self.count):
            yield Target(f"RB-{n:07d}", ZONES[n % len(ZONES)], "1.0.0")


def feed(dispatcher: RolloutDispatcher, campaign_id: UUID, stations: list[str], threads: int) -> float:
    """Every charger through its update; the seconds it took."""
    rollouts = dispatcher.rollouts
    campaign = rollouts.get(campaign_id)

    def one(station_id: str) -> None:
        request_id = dispatcher._reserve(campaign, station_id)
        assert request_id is not None
        dispatcher._answered(station_id, "Accepted")
        for status in STATUSES:
            assert rollouts.record_status(station_id, status, request_id) is Outcome.RECORDED
        assert rollouts.record_boot(station_id, IMAGE.version) is Outcome.RECORDED

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for _ in pool.map(one, stations, chunksize=64):
            pass
    return time.perf_counter() - started


async def _unused(*_: Any) -> Any:
    raise AssertionError("the feed calls the store directly")


def watch_lag(log: EventLog, follower: Follower, stop: threading.Event, worst: list[float]) -> None:
    """Sample the read model's lag behind the log: the largest in events, and the longest time from a head
    position sampled until the read model had applied it (to the sampling's 0.1 s)."""
    waiting: deque[tuple[int, float]] = deque()
    while not stop.is_set():
        head, position, now = log.recorder.max_notification_id() or 0, follower.position(), time.perf_counter()
        worst[0] = max(worst[0], head - position)
        waiting.append((head, now))
        while waiting and waiting[0][0] <= position:
            worst[1] = max(worst[1], now - waiting.popleft()[1])
        stop.wait(0.1)


def run(url: str, data_dir: Path, chargers: int, fed: int, threads: int) -> dict[str, float]:
    settings = Settings(store=StoreSettings(url), data_dir=data_dir)
    log, db = build_log(settings), ReadModelDB(settings.store)
    rss_before = rss_mib(os.getpid())
    follower = Follower(log, db, RolloutsProjection(), poll_interval=0.1)
    follower.start()
    try:
        rollouts = Rollouts(log, Synthetic(chargers))
        started = time.perf_counter()
        policy = RolloutPolicy(groups=(1.0, 10.0, 50.0, 100.0), max_concurrent=chargers)
        campaign = rollouts.create("bench", "stable", IMAGE, policy, "benchmark")
        plan_seconds = time.perf_counter() - started
        assert campaign.targets == chargers
        for command in ("start", "promote", "promote", "promote"):
            rollouts.decide(campaign.id, command, "benchmark")
        stations = [t.station_id for t in Synthetic(fed).targets("bench", "stable", {})]
        stop, worst = threading.Event(), [0.0, 0.0]
        watcher = threading.Thread(target=watch_lag, args=(log, follower, stop, worst), daemon=True)
        watcher.start()
        dispatcher = RolloutDispatcher(rollouts, NoLink(), _unused, RolloutQueries(db))
        feed_seconds = feed(dispatcher, campaign.id, stations, threads)
        fed_at = time.perf_counter()
        head = log.recorder.max_notification_id() or 0
        assert follower.wait_for(head, timeout=3600)
        catch_up_seconds = time.perf_counter() - fed_at
        stop.set()
        watcher.join()
        served_at = time.perf_counter()
        progress = RolloutQueries(db).progress(campaign.id)
        serve_seconds = time.perf_counter() - served_at
        assert progress is not None and progress["settled"] == fed, progress
        return {
            "plan_seconds": plan_seconds,
            "updates_per_second": 6 * fed / feed_seconds,
            "feed_seconds": feed_seconds,
            "lag_events": worst[0],
            "lag_seconds": worst[1],
            "catch_up_seconds": catch_up_seconds,
            "serve_ms": 1000 * serve_seconds,
            "rss_before": rss_before,
            "rss_after": rss_mib(os.getpid()),
            "events": head,
        }
    finally:
        follower.stop()
        log.close()
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=20_000)
    parser.add_argument("--feed", type=int, default=None, help="chargers taken through their update (default all)")
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    fed = min(args.feed or args.chargers, args.chargers)
    print(f"cores: {os.cpu_count()}  chargers: {args.chargers:,}  fed: {fed:,}  feed threads: {args.threads}")
    for store in args.stores.split(","):
        with fresh_store(store) as (url, tmp):
            f = run(url, tmp / "data", args.chargers, fed, args.threads)
        print(
            f"{store:>8}: plan {f['plan_seconds']:.1f} s ({args.chargers / f['plan_seconds']:,.0f} chargers/s);"
            f" {f['updates_per_second']:,.0f} status updates/s ({f['feed_seconds']:.1f} s, {f['events']:,.0f} events);"
            f" projection lag at most {f['lag_events']:,.0f} events / {f['lag_seconds']:.1f} s,"
            f" caught up {f['catch_up_seconds']:.1f} s after the last write; progress served in {f['serve_ms']:.1f} ms;"
            f" RSS {f['rss_before']:.0f} -> {f['rss_after']:.0f} MiB"
        )


if __name__ == "__main__":
    main()
