"""Benchmark: assigning N chargers to a firmware channel by filter (default 20,000), on SQLite and PostgreSQL,
each store fresh.

1. First assignment: every charger matched gets its own ``ChannelMembership`` stream (``Joined``), 2,000 new
   streams a save; timed.
2. Second assignment to another channel: every membership loaded, moved (``Moved``) and saved 2,000 at a time;
   timed.
3. A third to the same channel: nothing to write; timed.
Printed per store: chargers per second of each pass, and the size of the ``ChannelAssignment`` stream (its
events and bytes), which stays the same whatever N is: the assignment never lists its chargers.

    PYTHONPATH=src python3 benchmarks/channels.py [--chargers 20000] [--stores sqlite,postgres]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fresh_store import fresh_store

from adapters.settings import Settings, StoreSettings
from adapters.wiring import build_log
from services.firmware_channels import FirmwareChannels


class Synthetic:
    """N chargers of one family, made up as a filter asks for them (no fleet to read)."""

    def __init__(self, count: int) -> None:
        self.count = count

    def matching(self, filter: dict[str, Any]) -> Iterator[tuple[str, str]]:
        for n in range(self.count):
            yield f"CH-{n:07d}", "bench"


def run(url: str, data_dir: Path, chargers: int) -> dict[str, float]:
    log = build_log(Settings(store=StoreSettings(url), data_dir=data_dir))
    try:
        channels, figures = FirmwareChannels(log, Synthetic(chargers)), {}
        for name, channel in (("join", "beta"), ("move", "canary"), ("again", "canary")):
            started = time.perf_counter()
            done = channels.assign_matching(channel, None, {"batch_id": "B-1"}, "benchmark")
            figures[name] = chargers / (time.perf_counter() - started)
            assert done.matched == chargers and done.moved == (0 if name == "again" else chargers)
        records = log.recorder.select_events(done.id)
        figures["events"] = len(records)
        figures["bytes"] = sum(len(r.state) for r in records)
        return figures
    finally:
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chargers", type=int, default=20_000)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  chargers: {args.chargers:,}  load: {os.getloadavg()[0]:.1f}")
    for store in args.stores.split(","):
        with fresh_store(store) as (url, tmp):
            f = run(url, tmp / "data", args.chargers)
        print(
            f"{store:>8}: joined {f['join']:,.0f} chargers/s, moved {f['move']:,.0f}/s, unchanged {f['again']:,.0f}/s;"
            f" the assignment: {f['events']:.0f} events, {f['bytes']:,.0f} bytes"
        )


if __name__ == "__main__":
    main()
